/**
 * What a seed decides before the run starts: cluster size, Raft config, fault rates, workload and
 * phase lengths. Everything is drawn from one Prng in a fixed order, so a seed names one run.
 */
import type { MachineKind } from './machine.js'
import { Prng } from './prng.js'

export interface SimOptions {
  seed: number
  nodeCount: number
  electionTick: number
  heartbeatTick: number
  preVote: boolean
  checkQuorum: boolean
  /** ReadOnlyLeaseBased (requires checkQuorum) instead of ReadOnlySafe. */
  readLease: boolean
  maxInflightMsgs: number
  /** Bytes per MsgApp; 0 means one entry per message, Infinity unlimited. */
  maxSizePerMsg: number
  /** 0 means unlimited. */
  maxInflightBytes: number
  /**
   * Bytes of committed entries per Ready. Never left at 0 when maxSizePerMsg is 0: etcd-io/raft
   * would then default it to 0 too, and a node restarted with applied > 0 never applies again
   * (appliedTo pauses application when 0 >= 0), while one without panics in nextCommittedEnts.
   */
  maxCommittedSizePerReady: number
  /** The state machine survives a crash (etcd's bbolt backend) instead of rebuilding from the snapshot. */
  smDurable: boolean
  /**
   * What members apply entries to: the register machine (kv.ts), or the server's apply path over
   * MVCC (server-machine.ts) with etcd requests from the clients. Not drawn: the caller's choice.
   */
  machine: MachineKind
  clientCount: number
  /** Chance per tick that an idle client starts an operation. */
  opRate: number
  readRatio: number
  casRatio: number
  /** Ticks before a client gives up on a node and retries the same operation elsewhere. */
  clientTimeoutTicks: number
  dropRate: number
  duplicateRate: number
  delayMax: number
  reorder: boolean
  /** Chance per tick of a new partition, and of healing the current one. */
  partitionRate: number
  healRate: number
  /** Chance per tick that some live node is marked to crash, and that a crashed one restarts. */
  crashRate: number
  restartRate: number
  /** A crashed node stays down at least this long. */
  downTicksMin: number
  /** Chance that a crash picks the leader rather than a random node. */
  crashLeaderBias: number
  /** Chance that a node crashes right after sending a vote it granted (a vote must survive that). */
  voterCrashRate: number
  /** Chance per tick per node of a snapshot plus log compaction. */
  compactRate: number
  /** Chance per tick that the leader is asked to hand leadership to another node. */
  transferRate: number
  /** Persist and apply through the local storage threads instead of Ready/Advance. */
  asyncStorageWrites: boolean
  /** Async mode: chance per delivery round that a node's storage thread does its queued work. */
  diskRate: number
  /**
   * Nodes keep their state in a WalStorage on a SimDisk (crashes are power losses, recovery
   * reopens the WAL) instead of a MemoryStorage; `segmentBytes` is its WAL segment size.
   */
  walDisk: boolean
  segmentBytes: number
  /** WAL seeds: an fdatasync completes 0 to syncTicksMax ticks after it was issued. */
  syncTicksMax: number
  /** Per-node tick rate in permille of the global tick (1000 everywhere when no skew). */
  tickRatePermille: number[]
  safetyTicks: number
  /** After healing: ticks until a leader that everyone follows. */
  leaderTicksMax: number
  /** After that: the longest the slowest node's applied index may stand still. */
  stallTicksMax: number
  /** Membership changes in the workload (only some seeds, so the others stay comparable). */
  membership: boolean
  /** Chance per tick that the operator asks the leader for a conf change. */
  confChangeRate: number
  /** Node ids beyond the initial voters that conf changes may add, each at most once. */
  spareNodes: number
  stepDownOnRemoval: boolean
  /**
   * WAL seeds of three or more nodes without membership changes: a power loss may flip a bit of
   * what the disk holds; the node must then refuse to start with a typed corruption error (or
   * recover exactly what it wrote), and the others carry on without it.
   */
  bitRot: boolean
  /**
   * Every state machine call (apply, conf change, snapshot, restore) answers through the node's
   * apply thread, in both storage modes, and delivery rounds sometimes run the disk threads
   * before the messages.
   */
  slowMachine: boolean
  /**
   * Clients whose idea of the leader may be stale, as clients cut off with a deposed leader
   * are: they send to a node that believes it leads (any term), and leave it on a timeout or
   * once it no longer believes so, rather than on news of a newer leader.
   */
  staleClients: boolean
  /**
   * A partition holds at least this many ticks before it may heal or change (0: no minimum), so
   * that a new leader can commit while an old one, cut off, still serves.
   */
  partitionHoldTicks: number
  /**
   * Membership seeds: the operator favours adding learners and keeping them, and partitions may
   * put the learners with the leader or with a minority of the voters.
   */
  learners: boolean
  /**
   * Checkers a run may switch off (never drawn: on unless runSeed is told otherwise), to show
   * what the others see of a planted bug (src/sim/plants.ts). `readChecks`: a read's index
   * against the commit index before it started (and a lease read against its leader's lease),
   * against the state machine that answers it, and its confirmation by a quorum (workload.ts);
   * `recoveryCheck`: a reopened WAL against the writes made (node-disk-state.ts).
   */
  readChecks: boolean
  recoveryCheck: boolean
  /** Server machine: a txn's branch against what its failure range read (server-workload.ts). */
  responseChecks: boolean
}

export function chooseOptions(seed: number, machine: MachineKind = 'register'): SimOptions {
  const p = new Prng(seed)
  const nodeCount = p.pick([1, 3, 3, 3, 5, 5, 5, 7])
  const heartbeatTick = p.pick([1, 1, 2, 3])
  const delayMax = p.pick([0, 0, 1, 3, 10])
  // An election timeout shorter than a round trip never elects anyone: real deployments keep it
  // an order of magnitude above the network latency (etcd's tuning guide).
  const electionTick = Math.max(heartbeatTick * p.between(3, 10), 3 * delayMax + heartbeatTick)
  const checkQuorum = p.chance(0.5)
  const maxSizePerMsg = p.pick([0, 64, 1024, Infinity])
  const skew = p.chance(0.3)
  // Fault tiers: a tenth of the seeds run fault-free (pure scheduling), most run at moderate
  // rates, and a quarter are chaos: a crash or partition every election timeout or two, leaders
  // targeted, nodes back at once. Rare interleavings (Raft paper Figure 8, a vote forgotten in a
  // crash) need that churn; moderate rates leave time for long stretches of normal operation.
  const tier = p.pick(['calm', 'moderate', 'moderate', 'moderate', 'moderate', 'chaos', 'chaos'])
  const f = (x: number): number => (tier === 'calm' ? 0 : x)
  const chaos = tier === 'chaos'
  const options: SimOptions = {
    seed,
    machine,
    nodeCount,
    electionTick,
    heartbeatTick,
    preVote: p.chance(0.5),
    checkQuorum,
    readLease: checkQuorum && p.chance(0.3),
    maxInflightMsgs: p.pick([1, 2, 4, 256]),
    maxSizePerMsg,
    maxInflightBytes:
      maxSizePerMsg === Infinity || p.chance(0.5) ? 0 : maxSizePerMsg * p.pick([1, 4, 16]),
    maxCommittedSizePerReady:
      maxSizePerMsg === 0 ? p.pick([1, 1024, Infinity]) : p.pick([0, 0, 1, Infinity]),
    smDurable: p.chance(0.5),
    clientCount: p.between(1, 5),
    opRate: p.pick([0.05, 0.2, 0.5, 1]),
    readRatio: p.pick([0, 0.2, 0.5]),
    casRatio: p.pick([0, 0.3]),
    clientTimeoutTicks: electionTick * p.between(2, 4),
    dropRate: f(p.pick([0, 0.01, 0.05, 0.2])),
    duplicateRate: f(p.pick([0, 0.01, 0.05])),
    delayMax,
    reorder: p.chance(0.5),
    partitionRate: chaos ? p.pick([0.5, 1]) / electionTick : f(p.pick([0, 0.002, 0.01])),
    healRate: chaos ? p.pick([0.5, 1]) / electionTick : p.pick([0.01, 0.05]),
    crashRate: chaos ? p.pick([0.5, 1, 2]) / electionTick : f(p.pick([0, 0.002, 0.01])),
    restartRate: chaos ? p.pick([0.2, 0.5]) : p.pick([0.01, 0.05]),
    downTicksMin: chaos ? p.between(0, electionTick) : electionTick,
    crashLeaderBias: chaos ? p.pick([0.3, 0.7]) : 0,
    voterCrashRate: chaos ? p.pick([0.1, 0.3]) : 0,
    compactRate: p.pick([0, 0.001, 0.01]),
    tickRatePermille: Array.from({ length: nodeCount + 1 }, () =>
      skew ? p.between(800, 1200) : 1000,
    ),
    safetyTicks: p.between(200, 1000),
    // A few election rounds: each lasts under two election timeouts of the slowest clock, plus
    // the messages' flight.
    leaderTicksMax: 20 * electionTick + 20 * (delayMax + 1),
    // A follower catching up advances at least once per heartbeat round trip, or after a
    // snapshot; several election timeouts cover a lost snapshot and a probe.
    stallTicksMax: 10 * electionTick + 10 * (delayMax + 1),
    transferRate: f(p.pick([0, 0.002, 0.01])),
    asyncStorageWrites: p.chance(0.5),
    diskRate: p.pick([0.2, 0.5, 1]),
    walDisk: p.chance(0.5),
    segmentBytes: p.pick([4096, 65536]),
    // Heartbeats, votes and their answers each wait for an fsync, and a durable write is seen a
    // tick after it completes: an election takes several fsyncs, which must fit in a timeout
    // (seed 1605 elected nobody for 80 ticks with a 3-tick timeout and 1-tick fsyncs).
    syncTicksMax: Math.min(p.pick([0, 1, 3]), Math.floor(electionTick / 6)),
    membership: false,
    confChangeRate: 0,
    spareNodes: 0,
    stepDownOnRemoval: false,
    bitRot: false,
    staleClients: false,
    partitionHoldTicks: 0,
    learners: false,
    readChecks: true,
    recoveryCheck: true,
    responseChecks: true,
    slowMachine: false,
  }
  // The storage thread takes a write with chance diskRate per tick, and a vote waits for two (the
  // voter's hard state, the candidate's own vote): a round trip takes about 2/diskRate ticks more
  // than the wire's. Only the bounds grow, so every run stays what it was (seed 321716: two
  // voters, a 4-tick timeout, diskRate 0.2, split votes until a leader 197 ticks after healing).
  const storageTicks = 2 * Math.ceil(1 / options.diskRate)
  options.leaderTicksMax += 20 * storageTicks
  options.stallTicksMax += 10 * storageTicks
  // Drawn last, so that the seeds without membership changes run as they did before.
  if (p.chance(0.3)) {
    options.membership = true
    options.confChangeRate = p.pick([0.2, 0.5, 1]) / electionTick
    options.spareNodes = p.between(2, 5)
    options.stepDownOnRemoval = p.chance(0.5)
    // Raft without PreVote and without CheckQuorum is not live under membership changes: a
    // member left in an old configuration campaigns there, only among nodes of that
    // configuration, and its term outruns the new configuration's candidates, whose lower-term
    // requests it ignores (seed 40337). etcd runs with CheckQuorum always on, which makes such a
    // member answer a leader's heartbeat with its term.
    if (!options.preVote && !options.checkQuorum) options.checkQuorum = true
  }
  // Drawn after everything else, so that the other seeds run as they did before.
  if (options.walDisk && !options.membership && nodeCount >= 3) options.bitRot = p.chance(0.3)
  // Drawn after all the above (bit rot included), so that the seeds without them run as they
  // did before.
  options.learners = options.membership && p.chance(0.6)
  // A leader, or a minority with the learners, cut off for several election timeouts while
  // clients that still believe in it keep using it, reading and writing: a new leader commits
  // meanwhile, so the old one's reads are stale (lease reads, half of these seeds that can) and
  // its log piles up entries of a term that lost. Not in the calm tier, which has no faults.
  if (tier !== 'calm' && p.chance(options.learners ? 0.7 : 0.4)) {
    options.staleClients = true
    options.partitionHoldTicks = electionTick * p.between(4, 10)
    options.partitionRate = Math.max(options.partitionRate, 1 / (4 * electionTick))
    options.clientCount = Math.max(options.clientCount, 3)
    options.opRate = Math.max(options.opRate, 0.2)
    options.readRatio = Math.max(options.readRatio, options.learners ? 0.5 : 0.2)
    if (options.checkQuorum && !options.readLease) options.readLease = p.chance(0.5)
  }
  // Several learners at once: a minority of voters with them outnumbers the rest.
  if (options.learners) options.spareNodes = Math.max(options.spareNodes, 4)
  // Drawn last of all: a state machine that answers later (a backend committing a transaction),
  // so the apply lane's jobs interleave with steps and storage (the races of
  // src/node/node-races.test.ts).
  options.slowMachine = p.chance(0.3)
  if (options.slowMachine) options.compactRate = Math.max(options.compactRate, 0.01)
  return options
}
