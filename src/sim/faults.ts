/**
 * The faults of the safety phase, drawn from the cluster's fault stream: partitions and heals,
 * crashes (marked at a point of a node's work, see CrashPoint), restarts, snapshots with log
 * compaction, and leader transfers an operator would ask for.
 */
import type { Cluster } from './cluster.js'
import { CRASH_POINT_COUNT, CrashPoint, Ev, active, type SimNode } from './sim-node.js'

export class Faults {
  private partitioned = false
  /** The current partition may not heal or change before this tick (partitionHoldTicks). */
  private heldUntil = 0

  constructor(private readonly c: Cluster) {}

  healed(): void {
    this.partitioned = false
  }

  inject(): void {
    const c = this.c
    const p = c.faults
    const o = c.options
    const n = c.total
    const held = this.partitioned && c.now < this.heldUntil
    if (n > 1 && !held && p.chance(o.partitionRate)) this.partition()
    else if (this.partitioned && !held && p.chance(o.healRate)) {
      c.net.healAll()
      this.partitioned = false
      c.note(Ev.Heal, 0, 0)
      c.log('network healed')
    }
    if (p.chance(o.crashRate)) {
      const leader = c.leaderId()
      const target = leader !== 0 && p.chance(o.crashLeaderBias) ? leader : p.between(1, n)
      const node = c.nodes[target] as SimNode
      if (node.inc !== null && node.crashPoint === CrashPoint.None) {
        node.crashPoint = p.intn(CRASH_POINT_COUNT) as CrashPoint
        if (node.crashPoint === CrashPoint.BetweenReadies) c.crash(node, 'between Readies')
      }
    }
    for (let id = 1; id <= n; id++) {
      const node = c.nodes[id] as SimNode
      if (!active(node)) continue
      if (node.inc === null) {
        const due = c.now - node.downSince >= o.downTicksMin && p.chance(o.restartRate)
        if (node.restartAtOnce || due) c.start(node)
      } else if (p.chance(o.compactRate)) this.compact(node)
    }
    if (n > 1 && p.chance(o.transferRate)) this.transferLeader()
  }

  /** Asks the leader to hand over to another node, as an operator draining it would. */
  private transferLeader(): void {
    const c = this.c
    const leader = c.leaderId()
    if (leader === 0) return
    let to = c.faults.between(1, c.total - 1)
    if (to >= leader) to++
    c.note(Ev.Transfer, leader, to)
    c.log(`n${leader} asked to transfer leadership to n${to}`)
    const inc = (c.nodes[leader] as SimNode).inc!
    inc.watch.transferAsked(inc.clock.now)
    inc.driver!.transferLeader(BigInt(to))
  }

  /**
   * Cuts links: a symmetric split, one-way cuts, the leader alone, or a bridge between halves;
   * on learner seeds also the leader with the learners, or a minority of voters with them.
   */
  private partition(): void {
    const c = this.c
    const p = c.faults
    const n = c.total
    const net = c.net
    net.healAll()
    this.partitioned = true
    this.heldUntil = c.now + c.options.partitionHoldTicks
    const ids = Array.from({ length: n }, (_, i) => i + 1)
    p.shuffle(ids)
    // Held partitions cut the leader off more often than not (with the learners, on learner
    // seeds): that is what they are for.
    const o = c.options
    const cutLeader = o.partitionHoldTicks > 0 && p.chance(0.6)
    const kind = cutLeader ? (o.learners ? 4 : 2) : p.intn(o.learners ? 6 : 4)
    const cutBetween = (a: number[], b: number[]): void => {
      for (const x of a) {
        for (const y of b) {
          net.setLink(x, y, false)
          net.setLink(y, x, false)
        }
      }
    }
    let what: string
    if (kind === 0) {
      const k = p.between(1, n - 1)
      cutBetween(ids.slice(0, k), ids.slice(k))
      what = `split {${ids.slice(0, k)}} | {${ids.slice(k)}}`
    } else if (kind === 1) {
      const cuts = p.between(1, n * (n - 1))
      const cut: string[] = []
      for (let i = 0; i < cuts; i++) {
        const from = p.between(1, n)
        const to = p.between(1, n)
        if (from === to) continue
        net.setLink(from, to, false)
        cut.push(`${from}->${to}`)
      }
      what = `one-way cuts ${cut.join(' ')}`
    } else if (kind === 2) {
      const leader = c.leaderId() || (ids[0] as number)
      cutBetween(
        [leader],
        ids.filter((id) => id !== leader),
      )
      what = `isolate ${leader}`
    } else if (kind >= 4) {
      // The learners with the leader (it may count their acks or votes, and must not), or with
      // a minority of the voters (a candidate there may ask for them, and must not count them).
      const conf = c.latestConf
      const leader = c.leaderId()
      const voters = conf.voters.map(Number).filter((id) => id !== leader)
      p.shuffle(voters)
      const group = conf.learners.map(Number)
      if (kind === 4 && leader !== 0) group.push(leader)
      else group.push(...voters.slice(0, p.between(1, Math.max(1, (voters.length + 1) >> 1))))
      const rest = ids.filter((id) => !group.includes(id))
      cutBetween(group, rest)
      what = `learners apart: {${group}} | {${rest}}`
    } else {
      const bridge = ids[0] as number
      const rest = ids.slice(1)
      const k = p.between(0, rest.length)
      cutBetween(rest.slice(0, k), rest.slice(k))
      what = `bridge ${bridge} between {${rest.slice(0, k)}} and {${rest.slice(k)}}`
    }
    c.note(Ev.Partition, kind, 0)
    c.log(`partition: ${what}`)
  }

  /** Snapshots the state machine at its applied index and compacts the log behind it. */
  private compact(node: SimNode): void {
    const c = this.c
    const driver = node.driver
    if (driver === null) return
    // Slow-machine seeds keep almost no tail, so followers catch up by snapshot while entries
    // (conf changes among them) still wait in their apply lanes.
    const keep = c.faults.between(0, c.options.slowMachine ? 2 : 20)
    c.note(Ev.Compact, node.id, keep)
    const id = node.id
    void driver.snapshot({ compactKeep: keep }).then(
      (index) => {
        if (node.inc === null) return
        c.log(`n${id} snapshot at ${index}, log starts after ${node.storage.firstIndex() - 1}`)
      },
      () => {},
    )
  }
}
