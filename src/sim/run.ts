/**
 * One simulation run from one seed: a safety phase with faults, then a liveness phase that heals
 * everything and demands a leader that all nodes follow and an applied index that converges on
 * every node within a bounded number of ticks. Pure and deterministic: no clock, no I/O; the CLI
 * measures time around it.
 */
import { Violation } from './checkers.js'
import { Cluster, Ev, drain } from './cluster.js'
import { toOperations, type HistoryEvent } from './history.js'
import { checkOperations, describeResult } from './linearizability.js'
import { chooseOptions, type SimOptions } from './options.js'
import type { MachineKind } from './machine.js'
import type { CheckName } from './plants.js'

export interface RunResult {
  seed: number
  options: SimOptions
  /** Null when every check passed. */
  violation: Violation | null
  ticks: number
  opsDone: number
  /** The rolling hash of the run's events; the same seed must give the same hash. */
  hash: number
  /** Ticks the liveness phase needed to converge (or its bound when it did not). */
  livenessTicks: number
  trace: string[] | null
  /** How often each Ev happened. */
  counts: Int32Array
  /** The client-visible history (operations still open at the end completed as `info`). */
  history: HistoryEvent[]
}

/**
 * Runs one seed. Asynchronous: within and between ticks the loop lets every pending promise
 * settle (no real time passes, nothing else runs), which is when the drivers do their work.
 */
export async function runSeed(
  seed: number,
  {
    trace = false,
    checksOff = [],
    machine = 'register',
  }: { trace?: boolean; checksOff?: readonly CheckName[]; machine?: MachineKind } = {},
): Promise<RunResult> {
  const options = chooseOptions(seed, machine)
  if (checksOff.includes('reads')) options.readChecks = false
  if (checksOff.includes('recovery')) options.recoveryCheck = false
  if (checksOff.includes('responses')) options.responseChecks = false
  const cluster = new Cluster(options, trace ? [] : null)
  const step = (): Promise<void> => cluster.tick()
  let violation: Violation | null = null
  let livenessTicks = 0
  try {
    await cluster.begin()
    for (let t = 0; t < options.safetyTicks; t++) await step()
    cluster.startLiveness()
    livenessTicks = await awaitConvergence(cluster, step)
    checkHistory(cluster)
    cluster.workload.server?.checkRevisions()
    await cluster.watchers?.finish(drain)
  } catch (e) {
    violation =
      e instanceof Violation
        ? e
        : new Violation('raft-panic', e instanceof Error ? (e.stack ?? e.message) : String(e))
    cluster.trace?.push(`${cluster.now} FAILED ${violation.message}`)
  }
  cluster.history.finish(cluster.now)
  return {
    seed,
    options,
    violation,
    ticks: cluster.now,
    opsDone: cluster.workload.opsDone,
    hash: cluster.hash,
    livenessTicks,
    trace: cluster.trace,
    counts: cluster.counts,
    history: cluster.history.events,
  }
}

/** The client history must be linearizable; an over-budget search fails the seed too. */
function checkHistory(cluster: Cluster): void {
  cluster.history.finish(cluster.now)
  const r = checkOperations(toOperations(cluster.history.events))
  cluster.trace?.push(`${cluster.now} history: ${describeResult(r)}`)
  if (r.kind !== 'linearizable') throw new Violation('linearizability', describeResult(r))
}

/**
 * The longest a liveness phase may run, however long it keeps making progress: a run that
 * converges only after this is a failure (`runaway`) rather than a hang.
 */
export const LIVENESS_TICKS_MAX = 20_000

/**
 * Ticks until the cluster converges; throws a liveness Violation when no leader that every node
 * follows appears in time, or when the slowest node stops applying for too long.
 */
async function awaitConvergence(cluster: Cluster, step: () => Promise<void>): Promise<number> {
  const o = cluster.options
  let ticks = 0
  // A voter restarted from an old snapshot cannot campaign until it has applied the conf
  // changes in its log again; while the members keep applying, the wait goes on.
  let deadline = o.leaderTicksMax
  let applied = cluster.minApplied()
  while (!cluster.hasLeader()) {
    if (ticks >= LIVENESS_TICKS_MAX) {
      throw new Violation(
        'runaway',
        `no leader ${ticks} ticks after healing\n${cluster.describe()}`,
      )
    }
    if (ticks === deadline) {
      throw new Violation(
        'liveness',
        `no leader ${ticks} ticks after healing\n${cluster.describe()}`,
      )
    }
    await step()
    ticks++
    const now = cluster.minApplied()
    if (now > applied) {
      applied = now
      deadline = Math.max(deadline, ticks + o.leaderTicksMax)
    }
  }
  let progressAt = ticks
  applied = cluster.minApplied()
  // A lagging quorum may first have to overwrite a long divergent tail, one message per round
  // trip when flow control is tight, before the commit index (and so the applied one) can move.
  const backlog = Math.max(0, cluster.leaderLastIndex() - applied)
  const stallMax = o.stallTicksMax + backlog * 2 * (o.delayMax + 1)
  while (!cluster.converged()) {
    if (ticks >= LIVENESS_TICKS_MAX) {
      throw new Violation(
        'runaway',
        `no convergence ${ticks} ticks after healing, though the applied index kept moving\n${cluster.describe()}`,
      )
    }
    if (ticks - progressAt === stallMax) {
      cluster.membership.settled(cluster.memberConfs())
      throw new Violation(
        'liveness',
        `applied index stuck at ${applied} for ${stallMax} ticks\n${cluster.describe()}`,
      )
    }
    await step()
    ticks++
    const now = cluster.minApplied()
    if (now > applied) {
      applied = now
      progressAt = ticks
    }
  }
  cluster.membership.settled(cluster.memberConfs())
  return ticks
}

/** The options of a run, one line, for the trace header and failure reports. */
export function describeOptions(o: SimOptions): string {
  const rates = o.tickRatePermille.slice(1).join('/')
  return (
    `nodes ${o.nodeCount} election ${o.electionTick} heartbeat ${o.heartbeatTick} ` +
    `prevote ${o.preVote} checkquorum ${o.checkQuorum} read ${o.readLease ? 'lease' : 'safe'} ` +
    `inflight ${o.maxInflightMsgs} msgsize ${o.maxSizePerMsg} inflightbytes ${o.maxInflightBytes} ` +
    `async ${o.asyncStorageWrites} wal ${o.walDisk ? `${o.segmentBytes}/${o.syncTicksMax}` : 'no'} disk ${o.diskRate} smdurable ${o.smDurable} clients ${o.clientCount} oprate ${o.opRate} drop ${o.dropRate} ` +
    `dup ${o.duplicateRate} delay ${o.delayMax} reorder ${o.reorder} partition ${o.partitionRate.toFixed(3)} heal ${o.healRate.toFixed(3)} ` +
    `crash ${o.crashRate.toFixed(3)} leaderbias ${o.crashLeaderBias} down ${o.downTicksMin} compact ${o.compactRate} transfer ${o.transferRate} tickrates ${rates} safety ${o.safetyTicks}` +
    (o.membership
      ? ` membership rate ${o.confChangeRate.toFixed(3)} spares ${o.spareNodes} stepdown ${o.stepDownOnRemoval}`
      : '') +
    (o.bitRot ? ' bitrot' : '') +
    (o.slowMachine ? ' slowmachine' : '') +
    (o.machine === 'server' ? ' server' : '') +
    (o.learners ? ' learners' : '') +
    (o.staleClients ? ' staleclients' : '') +
    (o.partitionHoldTicks > 0 ? ` hold ${o.partitionHoldTicks}` : '') +
    (o.readChecks ? '' : ' [read checks off]') +
    (o.recoveryCheck ? '' : ' [recovery check off]') +
    (o.responseChecks ? '' : ' [response checks off]')
  )
}

/** The event counters, one line: "Crash 3 Partition 2 ...", skipping zeros. */
export function describeCounts(counts: Int32Array): string {
  const parts: string[] = []
  for (let k = 0; k < counts.length; k++) {
    if ((counts[k] as number) > 0 && Ev[k] !== undefined) parts.push(`${Ev[k]} ${counts[k]}`)
  }
  return parts.join(', ')
}
