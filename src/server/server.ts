/**
 * A pontoon member: the node driver over WalStorage, the MVCC store over LMDB, the peer transport
 * and the client API, assembled from a ServerConfig as etcd's embed.StartEtcd assembles an etcd
 * member. Start-up order (etcd's, and why): open the data dir and refuse one of another member or
 * cluster before anything listens; bind the peer port before raft starts, so peers reach us as
 * soon as we campaign; start raft; publish our name and client URLs through raft; only then
 * listen for clients and log "ready to serve client requests" (etcd serves clients after its
 * ReadyNotify, which waits for the publish).
 *
 * Layout of the data dir (etcd's, with the backend beside it): `member/wal/*.wal`,
 * `member/snap/*.snap`, `member/db` (LMDB's file, and `member/db-lock`).
 */
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { RpcServer, varintSize } from '../api/index.js'
import { NodeDisk, systemClock, type Clock } from '../io/index.js'
import { LmdbBackend, MvccStore, WatchableStore } from '../mvcc/index.js'
import { NodeError, RaftNode } from '../node/index.js'
import { StateType, type NodeId } from '../raft/index.js'
import { TcpTransport } from '../transport/index.js'
import { WalStorage } from '../wal/index.js'
import { formatUrl, type ServerConfig } from './config.js'
import { fromNodeErrorCode, ServerError } from './errors.js'
import { clusterId as deriveClusterId, hexId, memberId as deriveMemberId } from './ids.js'
import { MILESTONES, raftLogger, type ServerLogger } from './log.js'
import { Members } from './members.js'
import { txnWrites } from './apply-kv.js'
import { encodeRequest, type RaftRequest } from './request.js'
import { registerServices } from './services.js'
import { registerWatchService } from './watch-service.js'
import { ServerStateMachine, type ApplyResult, type MembersChange } from './state-machine.js'
import { fetchCluster, readIdentity, writeIdentity } from './join.js'
import { Lessor, minLeaseTtlSeconds } from './lessor.js'
import { Leases, registerLeaseService } from './lease-service.js'

/** etcd's version this server speaks, as Status and /version report it (docs/divergence.md). */
export const ETCD_VERSION = '3.4.0'
export const CLUSTER_VERSION = '3.4.0'
export const PONTOON_VERSION = '0.1.0'

/** etcd's backend quota when --quota-backend-bytes is 0 (DefaultQuotaBytes, 2 GiB). */
const DEFAULT_QUOTA_BYTES = 2 * 1024 * 1024 * 1024

/** gRPC accepts this much more than --max-request-bytes (etcd's grpcOverheadBytes). */
const GRPC_OVERHEAD_BYTES = 512 * 1024

export interface StartOptions {
  logger: ServerLogger
  clock?: Clock
}

export class PontoonServer {
  private stopping: Promise<void> | undefined
  /** The peers the transport knows (kept in step with the members by membersChanged). */
  readonly peerIds = new Set<bigint>()
  private removedResolve!: () => void
  /** Resolves once this member was removed from the cluster and has stopped (etcd exits 0). */
  readonly removed = new Promise<void>((resolve) => (this.removedResolve = resolve))
  /** Writes are refused once the backend is larger (etcd's quota; its NOSPACE alarm). */
  private readonly quotaBytes: number
  /** The backend's size as last read, and when (a file stat per write would be a syscall each). */
  private sizeBytes = 0
  private sizeReadAtMs = -Infinity
  /** The store's watchers (the Watch service), fed by every write this member applies. */
  watchable!: WatchableStore
  /** The Lease service's operations (set once the server is built). */
  leases!: Leases
  private constructor(
    readonly config: ServerConfig,
    readonly id: bigint,
    readonly clusterId: bigint,
    readonly node: RaftNode<ApplyResult>,
    readonly machine: ServerStateMachine,
    private readonly store: MvccStore,
    private readonly transport: TcpTransport,
    private readonly rpc: RpcServer,
    private readonly log: ServerLogger,
    /** The client addresses bound (a port 0 in the config becomes the real one here). */
    readonly clientAddresses: string[],
  ) {
    this.quotaBytes =
      config.quotaBackendBytes === 0 ? DEFAULT_QUOTA_BYTES : config.quotaBackendBytes
  }

  static async start(config: ServerConfig, opts: StartOptions): Promise<PontoonServer> {
    const log = opts.logger
    const clock = opts.clock ?? systemClock
    const peerUrls = config.initialAdvertisePeerUrls.map(formatUrl)
    const initial = new Map(
      [...config.initialCluster].map(([name, urls]) => [name, urls.map(formatUrl)] as const),
    )
    const memberDir = join(config.dataDir, 'member')
    mkdirSync(memberDir, { recursive: true, mode: 0o700 })
    const disk = new NodeDisk()
    const fresh = !disk.list(join(memberDir, 'wal')).some((n) => n.endsWith('.wal'))
    // A member that joined an existing cluster has the id the cluster gave it at its member add
    // (etcd's id is random), saved beside its WAL; a member of the initial cluster derives its id
    // from the flags, as etcd does.
    let id: bigint
    let clusterId: bigint
    let initialMembers: Members | undefined
    const joined = readIdentity(memberDir)
    // A joiner starts raft without peers; it is one if it joined before (even if it stopped
    // before its WAL or its first snapshot), or joins now.
    const joiner = joined !== undefined || (fresh && config.initialClusterState === 'existing')
    if (fresh && config.initialClusterState === 'existing') {
      const remote = await fetchCluster(initial, peerUrls, log)
      id = remote.id
      clusterId = remote.clusterId
      initialMembers = remote.members
      writeIdentity(memberDir, id, clusterId)
    } else if (joined !== undefined) {
      id = joined.id
      clusterId = joined.clusterId
    } else {
      initialMembers = Members.initial(initial, config.initialClusterToken)
      id = deriveMemberId(peerUrls, config.initialClusterToken)
      clusterId = deriveClusterId(initialMembers.ids())
    }
    log.info(
      {
        name: config.name,
        'data-dir': config.dataDir,
        'local-member-id': hexId(id),
        'cluster-id': hexId(clusterId),
        'initial-cluster': [...initial].map(([n, u]) => `${n}=${u.join(',')}`).join(','),
        'initial-cluster-state': config.initialClusterState,
      },
      'starting an etcd server',
    )

    // The WAL is opened first: it refuses a data dir of another member or cluster, naming both,
    // before the backend or the ports are touched.
    const storage = await WalStorage.open({
      disk,
      dir: memberDir,
      nodeId: id,
      clusterId,
      snapshotsKept: config.maxSnapshots === 0 ? undefined : config.maxSnapshots,
      logger: raftLogger(log),
    })
    for (const w of storage.warnings) log.warn({ 'data-dir': config.dataDir }, w)
    const store = MvccStore.open(LmdbBackend.open(join(memberDir, 'db')))
    const watchable = new WatchableStore(store)
    // A joiner that has not received the leader's snapshot yet asks the cluster again.
    const members =
      ServerStateMachine.savedMembers(store) ??
      initialMembers ??
      (await fetchCluster(initial, peerUrls, log)).members
    // The server is built after the node; until then the hooks reach it through this box.
    const hooks: { server?: PontoonServer } = {}
    const electionTicks = Math.max(
      2,
      Math.round(config.electionTimeoutMs / config.heartbeatIntervalMs),
    )
    // Lease time is the leader's real time (monotonic); the simulator gives its own clock.
    const lessor = new Lessor({
      now: () => performance.now(),
      clock,
      minTtlSeconds: minLeaseTtlSeconds(electionTicks, config.heartbeatIntervalMs),
      checkpointIntervalMs: config.leaseCheckpoint ? config.leaseCheckpointIntervalMs : 0,
      onExpired: (ids) => hooks.server?.leases.revokeExpired(ids),
      onCheckpoint: (cps) => hooks.server?.leases.checkpoint(cps),
    })
    const machine = new ServerStateMachine({
      store,
      members,
      lessor,
      isLeaderOf: (term) =>
        hooks.server !== undefined &&
        hooks.server.node.view.state === StateType.StateLeader &&
        hooks.server.node.view.term === term,
      promoteExtendMs: config.electionTimeoutMs,
      onMembersChanged: (change) => hooks.server?.membersChanged(change),
    })

    const peers = new Map<NodeId, string[]>()
    for (const m of members.list()) if (m.id !== id) peers.set(m.id, m.peerUrls)
    const transport = new TcpTransport({
      id,
      clusterId,
      listenUrls: config.listenPeerUrls.map(formatUrl),
      peers,
      logger: log.child({ caller: 'rafthttp' }),
      isRemoved: (peer) => machine.members.isRemoved(peer),
      onRemoved: () => hooks.server?.removedFromCluster(),
      httpGet: (path) =>
        path === '/members'
          ? {
              status: 200,
              headers: {
                'Content-Type': 'application/json',
                'X-Etcd-Cluster-Id': hexId(clusterId),
              },
              body: machine.members.peerJson(),
            }
          : undefined,
      httpPost: (path, body) => hooks.server?.leases.httpPost(path, body),
    })
    const peerAddrs = await transport.listen()
    log.info({ 'listen-peer-urls': peerAddrs }, 'listening for peers')

    const node = await RaftNode.start<ApplyResult>({
      id,
      // A joining member starts without a configuration and waits for the leader's snapshot.
      peers: fresh && !joiner ? members.ids() : undefined,
      storage,
      stateMachine: machine,
      transport,
      clock,
      tickMs: config.heartbeatIntervalMs,
      electionTicks,
      heartbeatTicks: 1,
      snapshotCount: config.snapshotCount,
      snapshotCatchUpEntries: config.snapshotCatchupEntries,
      preVote: config.preVote,
      checkQuorum: true,
      logger: raftLogger(log),
      // A member that is not leader keeps no lease time (etcd's Demote on losing leadership).
      observer: {
        ready: (_rd, view) => {
          if (view.state !== StateType.StateLeader) lessor.demote()
        },
      },
    })

    const rpc = new RpcServer({ maxRecvBytes: config.maxRequestBytes + GRPC_OVERHEAD_BYTES })
    const server = new PontoonServer(
      config,
      id,
      clusterId,
      node,
      machine,
      store,
      transport,
      rpc,
      log,
      [],
    )
    server.leases = new Leases(server)
    hooks.server = server
    server.watchable = watchable
    for (const p of peers.keys()) server.peerIds.add(p)
    registerServices(rpc, server)
    registerWatchService(rpc, server)
    registerLeaseService(rpc, server, server.leases)
    lessor.start()

    await node.leader()
    log.info({ 'cluster-version': '3.4' }, MILESTONES.capabilities)
    await server.publish()
    for (const u of config.listenClientUrls) {
      const host = u.hostname === 'localhost' ? '127.0.0.1' : u.hostname.replace(/^\[|\]$/g, '')
      const { port } = await rpc.listen({ host, port: Number(u.port) })
      server.clientAddresses.push(`${u.protocol}//${host}:${port}`)
      log.info(
        { address: `${host}:${port}` },
        `serving insecure client requests on ${host}:${port}, this is strongly discouraged!`,
      )
    }
    log.info({}, MILESTONES.ready)
    return server
  }

  /** A conf change or a snapshot changed the members: the transport follows them. */
  membersChanged(change: MembersChange): void {
    if (change.type === 'remove' && change.id === this.id) {
      this.removedFromCluster()
      return
    }
    const want = new Map<bigint, string[]>()
    for (const m of this.machine.members.list()) if (m.id !== this.id) want.set(m.id, m.peerUrls)
    for (const p of [...this.peerIds]) {
      if (!want.has(p)) {
        this.transport.removePeer(p)
        this.peerIds.delete(p)
      }
    }
    for (const [p, urls] of want) {
      this.transport.setPeer(p, urls)
      this.peerIds.add(p)
    }
    if (change.type === 'remove') {
      this.log.info(
        { 'removed-remote-peer-id': hexId(change.id), 'cluster-id': hexId(this.clusterId) },
        'removed member',
      )
    } else if (change.type !== 'reset') {
      this.log.info(
        {
          'cluster-id': hexId(this.clusterId),
          'local-member-id': hexId(this.id),
          [`${change.type === 'add' ? 'added' : change.type === 'update' ? 'updated' : 'promoted'}-member-id`]:
            hexId(change.member.id),
          'member-peer-urls': change.member.peerUrls,
        },
        `${change.type === 'add' ? 'added' : change.type === 'update' ? 'updated' : 'promoted'} member`,
      )
    }
  }

  /** This member was removed from the cluster (applied, or told by a peer): it stops. */
  removedFromCluster(): void {
    if (this.stopping !== undefined) return
    this.log.warn(
      { 'local-member-id': hexId(this.id) },
      'the member has been permanently removed from the cluster',
    )
    this.log.warn(
      { 'data-dir': this.config.dataDir },
      'the data-dir used by this member must be removed',
    )
    void this.stop().then(() => this.removedResolve())
  }

  /** This member's transport counters for a peer (the strict reconfiguration check). */
  peerActive(peer: bigint): boolean {
    return peer === this.id || (this.peerIds.has(peer) && this.transport.stats(peer).active)
  }

  /** Proposes our name and client URLs until it succeeds (etcd's publish, retried the same). */
  private async publish(): Promise<void> {
    const attributes = {
      id: this.id,
      name: this.config.name,
      clientUrls: this.config.advertiseClientUrls.map(formatUrl),
    }
    for (;;) {
      try {
        await this.node.propose(encodeRequest({ type: 'attributes', attributes }))
        break
      } catch (err) {
        if (!(err instanceof NodeError) || err.code === 'STOPPED' || err.code === 'FATAL') throw err
        this.log.warn(
          { error: err.message },
          'failed to publish local member to cluster through raft',
        )
        await this.node.leader()
      }
    }
    this.log.info(
      {
        'local-member-id': hexId(this.id),
        'local-member-attributes': `{Name:${attributes.name} ClientURLs:[${attributes.clientUrls.join(' ')}]}`,
        'cluster-id': hexId(this.clusterId),
      },
      MILESTONES.published,
    )
  }

  /** The backend's size, read again at most every 100 ms. */
  private backendBytes(): number {
    const now = Date.now()
    if (now - this.sizeReadAtMs >= 100) {
      this.sizeBytes = this.store.dbSize()
      this.sizeReadAtMs = now
    }
    return this.sizeBytes
  }

  /** Proposes a request and waits for its result; node errors become etcd's. */
  async propose(r: RaftRequest): Promise<ApplyResult> {
    if (writes(r) && this.backendBytes() > this.quotaBytes) throw new ServerError('NO_SPACE')
    const data = encodeRequest(r)
    if (etcdRequestBytes(data.length - 1) > this.config.maxRequestBytes) {
      throw new ServerError('REQUEST_TOO_LARGE')
    }
    let result: ApplyResult
    try {
      result = await this.node.propose(data)
    } catch (err) {
      throw toServerError(err)
    }
    if (result.type === 'error') throw result.error
    return result
  }

  /** Waits until this member has applied everything committed before the call (ReadIndex). */
  async linearizableRead(): Promise<void> {
    try {
      await this.node.read()
    } catch (err) {
      throw toServerError(err)
    }
  }

  get kv(): MvccStore {
    return this.store
  }

  get logger(): ServerLogger {
    return this.log
  }

  async stop(): Promise<void> {
    this.stopping ??= (async () => {
      const step = async (what: string, f: () => Promise<void>): Promise<void> => {
        this.log.debug({}, `stopping: ${what}`)
        await f()
      }
      this.machine.lessor.stop()
      this.leases.close()
      await step('client API', () => this.rpc.close())
      await step('raft node', () => this.node.stop())
      await step('peer transport', () => this.transport.stop())
      await step('backend', async () => {
        this.watchable.close()
        await this.store.flushed()
        await this.store.close()
      })
      this.log.info({}, 'stopped')
    })()
    return this.stopping
  }
}

/** Whether a request may grow the backend (etcd's quota check skips deletes and compactions). */
function writes(r: RaftRequest): boolean {
  return r.type === 'put' || (r.type === 'txn' && txnWrites(r.txn))
}

/**
 * The size etcd compares with --max-request-bytes for a request whose protobuf is `n` bytes: its
 * InternalRaftRequest, which wraps it in a field (a one-byte tag and the length) beside a
 * RequestHeader of 13 bytes (a two-byte tag, a length, and the request id, a 64-bit number whose
 * high bits are the member's: nine varint bytes). Clients see the same limit as with etcd, to
 * the byte: with 4096, the largest value a put of key "a" may carry is 4074 bytes.
 */
function etcdRequestBytes(n: number): number {
  return 1 + varintSize(n) + n + 13
}

export function toServerError(err: unknown): ServerError {
  if (err instanceof ServerError) return err
  if (err instanceof NodeError) return new ServerError(fromNodeErrorCode(err.code))
  return new ServerError('INTERNAL', `etcdserver: ${(err as Error).message ?? String(err)}`)
}
