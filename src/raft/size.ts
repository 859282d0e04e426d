/**
 * Encoded entry sizes for the byte limits on messages and on entries handed to the application
 * (etcd-io/raft `util.go` `entsSize`, `limitSize`). The sizes are the protobuf codec's
 * (raftpb/codec.ts), so every limit in the core counts bytes as the wire does.
 */

import type { Entry } from './raftpb/types.js'
import { entrySize } from './raftpb/codec.js'

export { entrySize, entsSize } from './raftpb/codec.js'

/**
 * The longest prefix of `ents` whose total encoded size is at most `maxSize`, but never empty when
 * `ents` is not: a single entry larger than the limit still goes out alone, or nothing would ever
 * make progress. Returns `ents` itself when nothing is cut.
 */
export function limitSize(ents: Entry[], maxSize: number): Entry[] {
  // "No limit" is common (MaxSizePerMsg unset); skip summing sizes nobody will compare.
  if (ents.length === 0 || maxSize === Infinity) return ents
  let size = 0
  for (let limit = 0; limit < ents.length; limit++) {
    size += entrySize(ents[limit] as Entry)
    if (limit > 0 && size > maxSize) return ents.slice(0, limit)
  }
  return ents
}
