// Goal: the layers an embedder uses are reachable by package name, with types, as the README
// shows: pontoon/node drives a member over pontoon/wal's WalStorage on pontoon/io's NodeDisk.
// Method: import them by name (package.json "exports"), open a single-member node on a real
// directory, write, read, restart, read again.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { NodeDisk, systemClock } from 'pontoon/io'
import { LocalNetwork, RaftNode, type StateMachine } from 'pontoon/node'
import type { Entry } from 'pontoon/raft'
import { WalStorage } from 'pontoon/wal'

/** Counts the entries applied and remembers the last payload (a log that replays on restart). */
class Last implements StateMachine<number> {
  index = 0
  last = ''
  appliedIndex = (): number => this.index
  apply = (entries: readonly Entry[]): number[] =>
    entries.map((e) => {
      this.index = e.index
      if (e.data.length > 0) this.last = new TextDecoder().decode(e.data)
      return e.index
    })
  applyConfChange = (c: { index: number }): void => void (this.index = c.index)
  snapshot = (): Uint8Array => new TextEncoder().encode(this.last)
  restore = (): void => {
    throw new Error('no snapshots in this test')
  }
}

test('pontoon/node over pontoon/wal on pontoon/io: a member on disk restarts with its writes', async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'pontoon-pkg-'))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  const open = async (): Promise<{ node: RaftNode<number>; sm: Last; storage: WalStorage }> => {
    const storage = await WalStorage.open({ disk: new NodeDisk(), dir, nodeId: 1n, clusterId: 7n })
    const sm = new Last()
    const node = await RaftNode.start({
      id: 1n,
      peers: [1n],
      storage,
      stateMachine: sm,
      transport: new LocalNetwork().transport(1n),
      clock: systemClock,
      tickMs: 5,
    })
    await node.leader()
    return { node, sm, storage }
  }
  let m = await open()
  const index = await m.node.propose(new TextEncoder().encode('hello'))
  assert.ok(index >= 2, `applied at ${index}`)
  await m.node.stop()
  await m.storage.close()
  m = await open()
  await m.node.read()
  assert.equal(m.sm.last, 'hello')
  await m.node.stop()
  await m.storage.close()
})
