// Three Raft members in one process: an in-memory network, a replicated map, a write and a read.
import { LocalNetwork, MemoryNodeStorage, RaftNode, systemClock } from 'pontoon/node'
import type { StateMachine } from 'pontoon/node'
import type { Entry, Snapshot } from 'pontoon/raft'

/** The replicated state: "key=value" entries set keys; a put returns the value it replaced. */
class MapMachine implements StateMachine<string | undefined> {
  map = new Map<string, string>()
  index = 0
  appliedIndex = (): number => this.index
  apply = (entries: readonly Entry[]): (string | undefined)[] =>
    entries.map((e) => {
      this.index = e.index
      if (e.data.length === 0) return undefined // a new leader's empty entry
      const [key, value] = new TextDecoder().decode(e.data).split('=') as [string, string]
      const old = this.map.get(key)
      this.map.set(key, value)
      return old
    })
  applyConfChange = (c: { index: number }): void => void (this.index = c.index)
  snapshot = (): Uint8Array => new TextEncoder().encode(JSON.stringify([this.index, [...this.map]]))
  restore = (s: Snapshot): void => {
    const [index, entries] = JSON.parse(new TextDecoder().decode(s.data)) as [
      number,
      [string, string][],
    ]
    this.index = index
    this.map = new Map(entries)
  }
}

const net = new LocalNetwork()
const ids = [1n, 2n, 3n]
const members = ids.map((id) => ({ id, machine: new MapMachine() }))
const nodes = await Promise.all(
  members.map(({ id, machine }) =>
    RaftNode.start({
      id,
      peers: ids,
      storage: new MemoryNodeStorage(),
      stateMachine: machine,
      transport: net.transport(id),
      clock: systemClock,
      tickMs: 10,
    }),
  ),
)
const [leader] = await Promise.all(nodes.map((n) => n.leader()))
console.log(`leader: node ${leader}`)
await nodes[2]!.propose(new TextEncoder().encode('greeting=hello')) // any member may propose
await nodes[1]!.read() // linearizable: node 2 has applied everything committed before the read
console.log(`node 2 reads greeting=${members[1]!.machine.map.get('greeting')}`)
await Promise.all(nodes.map((n) => n.stop()))
