/**
 * Instructions per appended entry of the WAL's CPU work (encoding, crc, the commit pipeline),
 * counted by callgrind rather than timed: on this shared machine wall time moves by 2x between
 * runs, instruction counts by about 2%.
 *
 *   valgrind --tool=callgrind --smc-check=all-non-file --callgrind-out-file=/dev/null \
 *     node --single-threaded dist/bench/wal/callgrind-encode.js SIZE WARMUP N
 *
 * appends WARMUP and then N batches of 256 entries of SIZE bytes through `Wal.append` on a disk
 * whose files take writes and syncs without doing them (the device's share is not the WAL's
 * code). The difference of the totals of N=0 and N=k runs, divided by k x 256, is the steady
 * cost of one entry, garbage collection and compilation included; `callgrind-encode.sh` does it.
 */
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'

import type { DiskFile } from '../../src/io/index.js'
import { entry, type Entry } from '../../src/raft/index.js'
import { Wal } from '../../src/wal/index.js'
import { NodeDiskWrapper } from './node-disk-wrapper.js'

/** NodeDisk for names and directories; its files' data calls do nothing. */
class NullDataDisk extends NodeDiskWrapper {
  protected adapt(f: DiskFile): DiskFile {
    f.write = () => {}
    f.sync = () => Promise.resolve()
    f.preallocate = () => Promise.resolve()
    return f
  }
}

const PER_BATCH = 256
const [sizeArg = '128', warmupArg = '100', nArg = '0'] = process.argv.slice(2)
const size = Number(sizeArg)
const batches = Number(warmupArg) + Number(nArg)
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pontoon-wal-encode-'))
try {
  const wal = await Wal.open({
    disk: new NullDataDisk(),
    dir,
    metadata: { nodeId: 1n, clusterId: 1n },
  })
  const data = new Uint8Array(size).fill(0x61)
  // One batch of entries, renumbered for each append (building fresh ones would be counted as
  // the WAL's work): the WAL keeps no reference to an entry once its append has resolved.
  const batch = Array.from({ length: PER_BATCH }, (_, k) => entry({ index: 1 + k, term: 1, data }))
  for (let b = 0; b < batches; b++) {
    for (let k = 0; k < PER_BATCH; k++) (batch[k] as Entry).index = 1 + b * PER_BATCH + k
    await wal.append({ entries: batch, hardState: { term: 1, vote: 1n, commit: b * PER_BATCH } })
  }
  await wal.close()
  process.stdout.write(`size=${size} batches=${batches} bytes=${wal.stats.bytesWritten}\n`)
} finally {
  fs.rmSync(dir, { recursive: true, force: true })
}
