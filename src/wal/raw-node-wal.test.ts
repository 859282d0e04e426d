// The raft core on WalStorage, end to end: a single-node group is bootstrapped, elects itself,
// commits proposals through saveReady (synchronous writes) or persistStorageAppend
// (AsyncStorageWrites), loses power, restarts from the disk alone, and carries on at a higher
// term with every committed entry in place.

import assert from 'node:assert/strict'
import { describe, it } from 'node:test'

import { RawNode } from '../raft/index.js'
import { EntryType, LocalAppendThread, LocalApplyThread, emptyConfState } from '../raft/index.js'
import { SimDisk } from '../io/index.js'
import { WalStorage } from './wal-storage.js'

const storageOpts = { dir: '/m', nodeId: 1n, clusterId: 7n, segmentBytes: 1024, cacheEntriesMax: 8 }

function node(storage: WalStorage, asyncStorageWrites: boolean, applied = 0): RawNode {
  return new RawNode({
    id: 1n,
    electionTick: 10,
    heartbeatTick: 1,
    storage,
    applied,
    maxInflightMsgs: 256,
    maxSizePerMsg: 1024 * 1024,
    asyncStorageWrites,
  })
}

/** Handles Readys until there are none; returns the data of the normal entries applied. */
async function drive(rn: RawNode, storage: WalStorage, async: boolean): Promise<string[]> {
  const applied: string[] = []
  // Bounded: a single node settles within a few Readys.
  for (let i = 0; i < 50 && rn.hasReady(); i++) {
    const rd = rn.ready()
    if (!async) await storage.saveReady(rd)
    for (const e of rd.committedEntries) {
      if (e.type === EntryType.EntryNormal && e.data.length > 0) {
        applied.push(new TextDecoder().decode(e.data))
      }
    }
    if (!async) {
      rn.advance()
      continue
    }
    for (const m of rd.messages) {
      if (m.to === LocalAppendThread) {
        for (const r of await storage.persistStorageAppend(m)) rn.step(r)
      } else if (m.to === LocalApplyThread) {
        for (const r of m.responses) rn.step(r)
      }
    }
  }
  assert.equal(rn.hasReady(), false, 'settled')
  return applied
}

describe('RawNode on WalStorage', () => {
  for (const async of [false, true]) {
    it(`commits, survives power loss and restarts (asyncStorageWrites: ${async})`, async () => {
      const disk = new SimDisk()
      let storage = await WalStorage.open({ ...storageOpts, disk })
      let rn = node(storage, async)
      rn.bootstrap([{ id: 1n }])
      await drive(rn, storage, async)
      rn.campaign()
      await drive(rn, storage, async)
      const committed: string[] = []
      for (let i = 0; i < 40; i++) {
        rn.propose(new TextEncoder().encode(`v${i}`))
        committed.push(...(await drive(rn, storage, async)))
      }
      assert.equal(committed.length, 40)
      const before = storage.initialState().hardState
      disk.crash()
      storage = await WalStorage.open({ ...storageOpts, disk })
      // The last commit index came in a HardState of its own, which is not synced (MustSync):
      // the one durable is the one written with the last entry, which it commits in the next.
      assert.deepEqual(storage.initialState().hardState, { ...before, commit: before.commit - 1 })
      const ents = storage.entries(storage.firstIndex(), storage.lastIndex() + 1, Infinity)
      const values = ents.filter((e) => e.type === EntryType.EntryNormal && e.data.length > 0)
      assert.deepEqual(
        values.map((e) => new TextDecoder().decode(e.data)),
        committed,
      )
      // Restart the node itself: from a snapshot carrying the configuration, as etcd does (the conf
      // change entries before it are not replayed).
      // The snapshot is at the commit index this life knows (an application applies no further).
      const commit = before.commit - 1
      const cs = { ...emptyConfState(), voters: [1n] }
      await storage.createSnapshot(commit, cs, new TextEncoder().encode('state'))
      await storage.compact(commit)
      disk.crash()
      storage = await WalStorage.open({ ...storageOpts, disk })
      assert.equal(storage.firstIndex(), commit + 1)
      rn = node(storage, async, commit)
      rn.campaign()
      // The new term's first entry commits the last one of the previous life again.
      assert.deepEqual(await drive(rn, storage, async), [committed[committed.length - 1]])
      assert.equal(rn.basicStatus().hardState.term, before.term + 1)
      rn.propose(new TextEncoder().encode('after'))
      assert.deepEqual(await drive(rn, storage, async), ['after'])
      await storage.close()
    })
  }
})
