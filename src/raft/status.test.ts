// Goal: Status and its JSON form report what etcd-io/raft's Status reports. Method: elect a
// single-voter leader through RawNode and compare the status fields and the JSON text.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { RawNode } from './raw-node.js'
import { MemoryStorage } from './storage.js'
import { statusToJSON } from './status.js'
import { StateType } from './ready.js'

function electedSingleVoter(): RawNode {
  const storage = new MemoryStorage()
  const rn = new RawNode({
    id: 0x1fn,
    electionTick: 10,
    heartbeatTick: 1,
    storage,
    maxInflightMsgs: 256,
  })
  rn.bootstrap([{ id: 0x1fn }])
  const drain = (): void => {
    while (rn.hasReady()) {
      const rd = rn.ready()
      storage.append(rd.entries)
      if (rd.hardState !== null) storage.setHardState(rd.hardState)
      rn.advance()
    }
  }
  drain() // the bootstrap entries must be applied before the node may campaign
  rn.campaign()
  drain()
  return rn
}

test('leader status carries progress and renders as etcd JSON', () => {
  const rn = electedSingleVoter()
  const st = rn.status()
  assert.equal(st.softState.raftState, StateType.StateLeader)
  assert.equal(st.progress.size, 1)
  assert.equal(
    statusToJSON(st),
    '{"id":"1f","term":2,"vote":"1f","commit":2,"lead":"1f","raftState":"StateLeader","applied":2,' +
      '"progress":{"1f":{"match":2,"next":3,"state":"StateReplicate"}},"leadtransferee":"0"}',
  )
})

test('follower status has no progress', () => {
  const storage = new MemoryStorage()
  const rn = new RawNode({
    id: 2n,
    electionTick: 10,
    heartbeatTick: 1,
    storage,
    maxInflightMsgs: 256,
  })
  rn.bootstrap([{ id: 1n }, { id: 2n }])
  assert.equal(rn.status().progress.size, 0)
  assert.equal(rn.basicStatus().softState.raftState, StateType.StateFollower)
})
