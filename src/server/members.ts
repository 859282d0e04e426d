/**
 * The cluster's members as the server knows them (etcd's membership.RaftCluster): each member's
 * id, name, peer URLs and client URLs. Peer URLs come from --initial-cluster (or a member add);
 * a member's name and client URLs become known when it publishes them through raft after it
 * starts, so `member list` shows a member that never started with an empty name, as etcd does.
 *
 * The registry is part of the replicated state: it changes only by applying entries, travels in
 * raft snapshots, and is saved in the backend with the data (state-machine.ts).
 */
import { memberId } from './ids.js'

export interface Member {
  id: bigint
  name: string
  peerUrls: string[]
  clientUrls: string[]
  isLearner: boolean
}

export class Members {
  private readonly byId = new Map<bigint, Member>()

  /** The members of a new cluster, from --initial-cluster and --initial-cluster-token. */
  static initial(cluster: ReadonlyMap<string, readonly string[]>, token: string): Members {
    const m = new Members()
    for (const [, urls] of cluster) {
      const id = memberId(urls, token)
      // The name is published by the member itself once it runs (etcd shows "" until then).
      m.byId.set(id, { id, name: '', peerUrls: [...urls], clientUrls: [], isLearner: false })
    }
    return m
  }

  get(id: bigint): Member | undefined {
    return this.byId.get(id)
  }

  /** Sorted by id, as etcd lists them. */
  list(): Member[] {
    return [...this.byId.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
  }

  ids(): bigint[] {
    return this.list().map((m) => m.id)
  }

  add(m: Member): void {
    this.byId.set(m.id, { ...m, peerUrls: [...m.peerUrls], clientUrls: [...m.clientUrls] })
  }

  remove(id: bigint): void {
    this.byId.delete(id)
  }

  /** A member's own publish: its name and client URLs (an unknown member is ignored). */
  setAttributes(id: bigint, name: string, clientUrls: readonly string[]): void {
    const m = this.byId.get(id)
    if (m === undefined) return
    m.name = name
    m.clientUrls = [...clientUrls]
  }

  encode(): Uint8Array {
    const rows = this.list().map((m) => ({ ...m, id: m.id.toString(16) }))
    return Buffer.from(JSON.stringify(rows), 'utf8')
  }

  static decode(bytes: Uint8Array): Members {
    const rows = JSON.parse(Buffer.from(bytes).toString('utf8')) as (Omit<Member, 'id'> & {
      id: string
    })[]
    const m = new Members()
    for (const r of rows) m.add({ ...r, id: BigInt(`0x${r.id}`) })
    return m
  }
}
