/**
 * The interaction harness's dependencies, wired to the real core: RawNode, MemoryStorage, the
 * Describe functions and the protobuf codec. The harness itself only knows the structural
 * interfaces in deps.ts, which keeps it testable with fakes.
 */
import { RawNode } from '../raw-node.js'
import { MemoryStorage } from '../storage.js'
import { describeEntries, describeMessage, describeReady } from '../util.js'
import { confChangesFromString } from '../raftpb/confchange.js'
import { decodeConfChange, decodeConfChangeV2 } from '../raftpb/codec.js'
import { compareIds } from '../quorum/types.js'
import type { Progress } from '../tracker/progress.js'
import { parseLine } from './datadriven.js'
import type { Deps, ProgressLike } from './deps.js'
import type { Ready } from '../ready.js'
import type { NodeId } from '../raftpb/types.js'

export const realDeps: Deps = {
  newRawNode: (config) => new RawNode({ ...config, storage: config.storage as MemoryStorage }),
  newMemoryStorage: () => new MemoryStorage(),
  describeReady: (rd) => describeReady(rd as Ready),
  describeMessage: (m) => describeMessage(m),
  describeEntries: (ents) => describeEntries(ents),
  describeProgressMap(progress: ReadonlyMap<NodeId, ProgressLike>): string {
    const ids = [...progress.keys()].sort(compareIds)
    return ids.map((id) => `${id}: ${(progress.get(id) as Progress).toString()}\n`).join('')
  },
  confChangesFromString,
  decodeConfChange,
  decodeConfChangeV2,
  parseLine,
}
