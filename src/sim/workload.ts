/**
 * The clients: each runs one operation at a time (a put, a compare-and-set or a linearizable
 * read), sends it to a node (the leader usually, as a client that was redirected), retries it
 * elsewhere on a timeout or when its leader is deposed, and records the client-visible history
 * for the linearizability checker. Writes go through RaftNode.propose and complete with the
 * state machine's result; reads through RaftNode.read and complete with the value the node's
 * state machine holds once it has applied up to the read index.
 */
import { StateType } from '../raft/index.js'
import { NodeError } from '../node/index.js'
import { Violation } from './checkers.js'
import type { Cluster } from './cluster.js'
import { Op, encodeCommand, type Command } from './kv.js'
import type { Prng } from './prng.js'
import { Ev, type Incarnation, type KvResult, type SimNode } from './sim-node.js'
import { ServerOps } from './server-workload.js'

interface Client {
  readonly id: number
  seq: number
  busy: boolean
  isRead: boolean
  cmd: Command
  target: number
  targetWasLeader: boolean
  deadline: number
  /** Submissions of the current operation; a read's answer counts only for the latest. */
  attempt: number
  /** The attempt number of the current operation's first submission. */
  firstAttempt: number
  /** The highest index committed (or of a write acknowledged) before this operation started. */
  committedAtStart: number
  /** The highest index of a write acknowledged to a client before this operation started. */
  ackedAtStart: number
  /** The cluster's delivery count when the current attempt was submitted. */
  submittedAt: number
}

export class Workload {
  /** Client operations completed (writes acknowledged, reads served). */
  opsDone = 0
  private readonly clients: Client[] = []
  private valueCounter = 0
  private ackedWriteMax = 0
  /** Server machine: the etcd requests, their results and the revision checks. */
  readonly server: ServerOps | null

  constructor(
    private readonly c: Cluster,
    private readonly p: Prng,
  ) {
    this.server = c.options.machine === 'server' ? new ServerOps(c, p) : null
    for (let id = 0; id < c.options.clientCount; id++) {
      this.clients.push({
        id,
        seq: 0,
        busy: false,
        isRead: false,
        cmd: { op: Op.Put, client: id, seq: 0, key: 0, value: 0, expected: 0 },
        target: 0,
        targetWasLeader: false,
        deadline: 0,
        attempt: 0,
        firstAttempt: 1,
        committedAtStart: 0,
        ackedAtStart: 0,
        submittedAt: 0,
      })
    }
  }

  run(): void {
    const c = this.c
    const leader = c.leaderId()
    for (const client of this.clients) {
      if (client.busy) {
        // A client fails over when its request times out, or at once when the leader it talked
        // to is gone and another one is known (as etcd's client balancer does); a stale client
        // only once its node no longer believes it leads.
        const deposed = c.options.staleClients
          ? client.targetWasLeader && !leads(c, client.target)
          : client.targetWasLeader && leader !== 0 && leader !== client.target
        if (this.server !== null && !client.isRead) {
          // etcd has no dedup: a write is never sent again; past its deadline its outcome is
          // unknown (it may still commit, at any later point, or never).
          if (c.now >= client.deadline) this.writeUnknown(client, 'timed out')
        } else if (c.now >= client.deadline || deposed) this.submit(client)
      } else if (!c.liveness && this.p.chance(c.options.opRate)) {
        this.begin(client)
      }
    }
    if (this.server !== null && !c.liveness) this.server.maybeCompact()
  }

  private begin(client: Client): void {
    const p = this.p
    const o = this.c.options
    client.seq++
    client.busy = true
    client.firstAttempt = client.attempt + 1
    client.isRead = p.chance(o.readRatio)
    // Linearizability asks a read to reflect every acknowledged write; ReadIndex promises more,
    // every entry committed before the request, which catches a stale read before any client
    // could notice it.
    client.committedAtStart = Math.max(this.ackedWriteMax, this.strictReadBound())
    client.ackedAtStart = this.ackedWriteMax
    const cmd = client.cmd
    if (this.server !== null) {
      cmd.seq = client.seq
      this.server.choose(cmd, client.isRead, ++this.valueCounter)
      this.recordInvoke(client)
      this.submit(client)
      return
    }
    cmd.op = p.chance(o.casRatio) ? Op.Cas : Op.Put
    cmd.seq = client.seq
    cmd.key = p.intn(8)
    cmd.value = ++this.valueCounter
    cmd.expected = p.intn(this.valueCounter + 1)
    this.recordInvoke(client)
    this.submit(client)
  }

  /**
   * A retry reuses the operation's sequence number and the state machine applies it at most
   * once, so one history operation spans the first attempt to the acknowledgement. Keys start
   * at 0 and no put writes 0, so 0 is recorded as null, an absent key.
   */
  private recordInvoke(client: Client): void {
    const h = this.c.history
    const now = this.c.now
    const key = String(client.cmd.key)
    if (client.isRead) return h.invoke(client.id, 'get', key, now)
    if (client.cmd.op === Op.Delete) return h.invoke(client.id, 'delete', key, now)
    const value = toValue(client.cmd.value)
    if (client.cmd.op === Op.Put) return h.invoke(client.id, 'put', key, now, value)
    h.invoke(client.id, 'cas', key, now, value, toValue(client.cmd.expected))
  }

  /** Sends the client's operation to a node: the leader usually, as a client that was redirected. */
  private submit(client: Client): void {
    const c = this.c
    const p = this.p
    if (c.options.staleClients) {
      // Any node that believes it leads, a deposed one cut off with this client included.
      const claimants: number[] = []
      for (let id = 1; id <= c.total; id++) if (leads(c, id)) claimants.push(id)
      client.target =
        claimants.length > 0 && p.chance(0.8) ? p.pick(claimants) : p.between(1, c.total)
      client.targetWasLeader = leads(c, client.target)
    } else {
      const leader = c.leaderId()
      client.target = leader !== 0 && p.chance(0.8) ? leader : p.between(1, c.total)
      client.targetWasLeader = client.target === leader
    }
    client.deadline = c.now + c.options.clientTimeoutTicks
    client.submittedAt = c.deliveries
    const attempt = ++client.attempt
    if (client.isRead) {
      // A retried read is a new ReadIndex request, which must reflect everything committed by
      // now; the client stops waiting for the answer to the old one.
      client.committedAtStart = Math.max(client.committedAtStart, this.strictReadBound())
    }
    const node = c.nodes[client.target] as SimNode
    const inc = node.inc
    const driver = node.driver
    c.note(Ev.Submit, client.id, client.target)
    if (inc === null || driver === null) {
      c.log(`client ${client.id} #${client.seq} sent to n${client.target}, which is down`)
      // The request reached no one: it certainly took no effect.
      if (this.server !== null && !client.isRead) this.writeRefused(client, client.seq)
      return
    }
    const seq = client.seq
    const target = client.target
    const refused = (err: unknown): void => {
      const msg = err instanceof Error ? err.message : String(err)
      c.log(`client ${client.id} #${seq} refused by n${target}: ${msg}`)
      // The driver says the write certainly took no effect; taken at its word when no other
      // attempt of the operation exists, the history records it as failed, and a read that sees
      // its value fails the seed.
      const certain =
        NodeError.is(err, 'PROPOSAL_DROPPED') || NodeError.is(err, 'TOO_MANY_REQUESTS')
      // The only attempt: a retry may have carried the operation through meanwhile.
      const only = attempt === client.firstAttempt && client.attempt === attempt
      if (this.server !== null && !client.isRead && !certain) {
        // A leader lost or a timeout: the entry may still commit (etcd's "request timed out").
        return c.guard(() => this.writeUnknown(client, msg, seq))
      }
      if (!certain || client.isRead || !only) return
      c.guard(() => this.writeRefused(client, seq))
    }
    if (client.isRead) {
      c.log(`client ${client.id} read #${seq} via n${target}`)
      driver
        .read()
        .then((index) => c.guard(() => this.readDone(client, attempt, inc, index)), refused)
    } else if (this.server !== null) {
      c.log(`client ${client.id} ${this.server.describe(client.cmd)} #${seq} via n${target}`)
      driver
        .propose(this.server.request(client.cmd))
        .then((r) => c.guard(() => this.serverWriteDone(client, seq, r)), refused)
    } else {
      c.log(
        `client ${client.id} ${client.cmd.op === Op.Put ? 'put' : 'cas'} #${seq} via n${target}`,
      )
      driver
        .propose(encodeCommand(client.cmd))
        .then((r) => c.guard(() => this.writeDone(client, seq, r)), refused)
    }
  }

  /** The operation's only attempt so far certainly took no effect: the client gives it up. */
  private writeRefused(client: Client, seq: number): void {
    if (!client.busy || client.isRead || client.seq !== seq) return
    const c = this.c
    client.busy = false
    c.history.complete(client.id, 'fail', c.now, { error: 'refused' })
    c.note(Ev.WriteRefused, client.id, seq)
  }

  /** A server write whose outcome the client cannot know: it gives up, the history says `info`. */
  private writeUnknown(client: Client, why: string, seq = client.seq): void {
    if (!client.busy || client.isRead || client.seq !== seq) return
    const c = this.c
    client.busy = false
    c.history.complete(client.id, 'info', c.now, { error: why })
    c.log(`client ${client.id} #${seq} outcome unknown: ${why}`)
  }

  /** A server write's response, checked against the request and recorded. */
  private serverWriteDone(client: Client, seq: number, r: KvResult): void {
    if (!client.busy || client.isRead || client.seq !== seq) return
    const c = this.c
    const outcome = this.server!.written(client.cmd, r)
    client.busy = false
    this.opsDone++
    if (outcome === 'ok') c.history.complete(client.id, 'ok', c.now)
    else c.history.complete(client.id, 'fail', c.now, { error: outcome })
    if (r.index > this.ackedWriteMax) this.ackedWriteMax = r.index
    c.note(Ev.WriteAck, client.id, r.index)
  }

  /** A write's result: any attempt of the operation counts (the machine applies it once). */
  private writeDone(client: Client, seq: number, r: KvResult): void {
    if (!client.busy || client.isRead || client.seq !== seq) return
    const c = this.c
    client.busy = false
    this.opsDone++
    if (r.ok) c.history.complete(client.id, 'ok', c.now)
    else c.history.complete(client.id, 'fail', c.now, { error: 'mismatch' })
    if (r.index > this.ackedWriteMax) this.ackedWriteMax = r.index
    c.note(Ev.WriteAck, client.id, r.index)
  }

  /** A read's answer: the node's state machine is at `index` or beyond. */
  private readDone(client: Client, attempt: number, inc: Incarnation, index: number): void {
    if (!client.busy || !client.isRead || client.attempt !== attempt) return
    // A process that died answers no one, though its driver may resolve a read in the microtasks
    // it had queued (the Readies it took after the crash are not observed): the client times out.
    if (!inc.alive) return
    const c = this.c
    const sm = inc.sm
    const check = c.options.readChecks
    if (check && sm.applied < index) {
      throw new Violation(
        'stale-read',
        `read at ${index} answered with the machine at ${sm.applied}`,
      )
    }
    const quorumSeq = c.readAnswer(inc.node.id, index)?.quorumSeq ?? Infinity
    if (check && quorumSeq <= client.submittedAt) {
      // Raft thesis §6.4: the leader confirms a read by a heartbeat round after it arrived.
      throw new Violation(
        'read-quorum',
        `client ${client.id} read at index ${index} on node ${inc.node.id}, confirmed by a ` +
          `leader that had not heard from a quorum since the read was sent`,
      )
    }
    const { value, revision } = sm.read(client.cmd.key)
    this.server?.readAt(index, revision, client.cmd.key, value)
    if (index >= client.committedAtStart || !this.staleRead(inc.node, client, index))
      c.history.complete(client.id, 'ok', c.now, { value })
    else c.history.complete(client.id, 'info', c.now, { error: 'stale lease read' })
    client.busy = false
    this.opsDone++
    c.note(Ev.ReadServed, client.id, index)
    c.log(`n${inc.node.id} serves read of client ${client.id} at ${index} (applied ${sm.applied})`)
  }

  /**
   * A read answered below the commit index its request saw; true when etcd-io/raft allows it, so
   * that its value is not checked. With ReadOnlySafe it is never allowed. A lease read is allowed
   * when the leader that answered it may still have held its lease (lease.ts): a deposed leader
   * keeps leading until its next CheckQuorum round, up to two election timeouts after it was cut
   * off, while the others elect a successor after one (sofa-jraft #25 has the same window);
   * those are counted. A lease read from a leader that had not heard from a quorum for longer
   * than CheckQuorum allows is a violation. With the read checks off, a read not allowed is
   * recorded with its value for the linearizability checker.
   */
  private staleRead(node: SimNode, client: Client, index: number): boolean {
    const c = this.c
    const what =
      `client ${client.id} read at index ${index} on node ${node.id}, but index ` +
      `${client.committedAtStart} was committed (and index ${client.ackedAtStart} acknowledged to a client) ` +
      `before the read started`
    const lapse = c.options.readLease ? (c.readAnswer(node.id, index)?.lapse ?? null) : what
    if (lapse === null) {
      c.note(Ev.LeaseStaleRead, client.id, index)
      c.log(`lease read stale (etcd-io/raft allows it): ${what}`)
      return true
    }
    const why = c.options.readLease ? `${what}; ${lapse}` : what
    if (c.options.readChecks) throw new Violation('stale-read', why)
    c.log(`stale read (read checks off): ${why}`)
    return false
  }

  /**
   * The commit index a new ReadIndex request must reach. A single voter with async writes can
   * lose its in-memory commit index in a crash and answer from the durable one (the driver
   * acknowledges a write only once its commit index is durable); there only acknowledged writes
   * bind, so linearizability is still checked.
   */
  private strictReadBound(): number {
    const o = this.c.options
    // Conf changes can shrink the cluster to a single voter at any time.
    const single = o.nodeCount === 1 || o.membership
    return o.asyncStorageWrites && single ? 0 : this.c.checker.maxCommitted
  }
}

/** The node is up and believes it is the leader. */
function leads(c: Cluster, id: number): boolean {
  return (c.nodes[id] as SimNode).driver?.view.state === StateType.StateLeader
}

function toValue(v: number): number | null {
  return v === 0 ? null : v
}
