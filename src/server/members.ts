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
  /** Ids removed from the cluster: never reused, and refused by the peer transport. */
  private readonly removedIds = new Set<bigint>()

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
    this.removedIds.add(id)
  }

  isRemoved(id: bigint): boolean {
    return this.removedIds.has(id)
  }

  /** A member update: new peer URLs (an unknown member is ignored). */
  setPeerUrls(id: bigint, peerUrls: readonly string[]): void {
    const m = this.byId.get(id)
    if (m !== undefined) m.peerUrls = [...peerUrls]
  }

  /** A learner becomes a voting member. */
  promote(id: bigint): void {
    const m = this.byId.get(id)
    if (m !== undefined) m.isLearner = false
  }

  /** The member using one of `urls` as a peer URL, other than `except`. */
  peerUrlOwner(urls: readonly string[], except?: bigint): Member | undefined {
    return this.list().find((m) => m.id !== except && m.peerUrls.some((u) => urls.includes(u)))
  }

  /** Whether a member published its name and client URLs (etcd's IsStarted). */
  static started(m: Member): boolean {
    return m.name !== ''
  }

  /**
   * The list as etcd's peer handler answers GET /members (the joining member reads its own id
   * from it): ids in decimal, written as JSON numbers although they exceed 2^53, as Go does.
   */
  peerJson(): string {
    const rows = this.list().map((m) => {
      const o: Record<string, unknown> = { id: '@ID@', peerURLs: m.peerUrls }
      // Go's membership.Member field order: id, peerURLs, isLearner, name, clientURLs.
      if (m.isLearner) o.isLearner = true
      if (m.name !== '') o.name = m.name
      if (m.clientUrls.length > 0) o.clientURLs = m.clientUrls
      return JSON.stringify(o).replace('"@ID@"', m.id.toString(10))
    })
    return `[${rows.join(',')}]`
  }

  /** Reads peerJson()'s text back (big ids kept exact). */
  static fromPeerJson(text: string): Members {
    const quoted = text.replace(/"id":(\d+)/g, '"id":"$1"')
    const rows = JSON.parse(quoted) as {
      id: string
      peerURLs?: string[]
      name?: string
      clientURLs?: string[]
      isLearner?: boolean
    }[]
    const m = new Members()
    for (const r of rows) {
      m.add({
        id: BigInt(r.id),
        name: r.name ?? '',
        peerUrls: r.peerURLs ?? [],
        clientUrls: r.clientURLs ?? [],
        isLearner: r.isLearner ?? false,
      })
    }
    return m
  }

  /** A member's own publish: its name and client URLs (an unknown member is ignored). */
  setAttributes(id: bigint, name: string, clientUrls: readonly string[]): void {
    const m = this.byId.get(id)
    if (m === undefined) return
    m.name = name
    m.clientUrls = [...clientUrls]
  }

  encode(): Uint8Array {
    const members = this.list().map((m) => ({ ...m, id: m.id.toString(16) }))
    const removed = [...this.removedIds].map((id) => id.toString(16))
    return Buffer.from(JSON.stringify({ members, removed }), 'utf8')
  }

  static decode(bytes: Uint8Array): Members {
    type Row = Omit<Member, 'id'> & { id: string }
    const parsed = JSON.parse(Buffer.from(bytes).toString('utf8')) as
      Row[] | { members: Row[]; removed: string[] }
    // The first format was the bare list (no removed ids).
    const { members, removed } = Array.isArray(parsed) ? { members: parsed, removed: [] } : parsed
    const m = new Members()
    for (const r of members) m.add({ ...r, id: BigInt(`0x${r.id}`) })
    for (const id of removed) m.removedIds.add(BigInt(`0x${id}`))
    return m
  }
}
