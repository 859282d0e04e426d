/**
 * etcd's Lease service on the client port (api/v3rpc/lease.go, etcdserver/v3_server.go) and the
 * lease half of its peer port (lease/leasehttp): LeaseGrant and LeaseRevoke go through raft;
 * LeaseKeepAlive (a bidi stream, one answer per request) and LeaseTimeToLive are answered by the
 * leader's lessor, which alone keeps lease time: a follower forwards them to the leader over the
 * peer port (LeaseTimeToLive as etcd does, POST /leases/internal with a protobuf body; keepalives
 * in batches, every keepalive its streams asked for in one event-loop turn in one POST of
 * /pontoon/leases/renew, where etcd POSTs /leases once per keepalive; the leader answers both);
 * LeaseLeases lists the local lessor's leases.
 *
 * `Leases` also runs what the leader's lessor asks for: a LeaseRevoke proposal per expired lease
 * (at most 16 in flight, etcd's maxPendingRevokes) and LeaseCheckpoint proposals.
 */
import http from 'node:http'
import {
  LeaseGrantRequestCodec,
  LeaseGrantResponseCodec,
  LeaseInternalRequestCodec,
  LeaseInternalResponseCodec,
  LeaseKeepAliveRequestCodec,
  LeaseKeepAliveResponseCodec,
  LeaseLeasesRequestCodec,
  LeaseLeasesResponseCodec,
  LeaseRevokeRequestCodec,
  LeaseRevokeResponseCodec,
  LeaseTimeToLiveRequestCodec,
  LeaseTimeToLiveResponseCodec,
  RpcError,
  decodeMessage,
  encodeMessage,
  type LeaseCheckpoint,
  type LeaseGrantResponse,
  type LeaseKeepAliveResponse,
  type LeaseTimeToLiveRequest,
  type LeaseTimeToLiveResponse,
  type MessageCodec,
  type ResponseHeader,
  type RpcServer,
} from '../api/index.js'
import type { HttpAnswer } from '../transport/index.js'
import { ServerError } from './errors.js'
import { IdGenerator } from './ids.js'
import type { PontoonServer } from './server.js'
import { toServerError } from './server.js'
import { fillHeader, unaryRegistrar } from './services.js'

/** etcd's leasehttp paths on the peer port. */
export const LEASE_PATH = '/leases'
export const LEASE_INTERNAL_PATH = '/leases/internal'
/**
 * Pontoon's batched keepalives on the peer port: the body is the leases' ids, 8 bytes each
 * (big-endian); the answer 200 with one 8-byte TTL per id, in order (0: unknown or expired), or
 * 400 with a text (not the leader: the follower tries again).
 */
export const LEASE_RENEW_PATH = '/pontoon/leases/renew'
/** Ids in one forwarded batch: 32 KiB, within the peer port's 64 KiB POST limit. */
const RENEW_BATCH_MAX = 4096
/** Batches a follower has in flight to the leader at once. */
const RENEW_BATCHES_IN_FLIGHT_MAX = 2

/** etcd's maxPendingRevokes: revoke proposals of expired leases in flight at once. */
const PENDING_REVOKES_MAX = 16
/** A forwarded request is tried again after this long (etcd: 50 ms). */
const FORWARD_RETRY_MS = 50

const PROTOBUF = { 'Content-Type': 'application/protobuf' }
const OCTETS = { 'Content-Type': 'application/octet-stream' }
const TEXT = { 'Content-Type': 'text/plain; charset=utf-8' }

/** A keepalive waiting for its batch to the leader. */
interface PendingRenew {
  readonly id: bigint
  readonly resolve: (ttl: number) => void
  readonly reject: (err: unknown) => void
}

/** The server's lease operations, local or forwarded to the leader. */
export class Leases {
  private readonly ids: IdGenerator
  private readonly expiredQueue: bigint[] = []
  private revokesInFlight = 0
  private readonly renews: PendingRenew[] = []
  private renewFlushScheduled = false
  private renewBatchesInFlight = 0
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: 64 })

  constructor(private readonly s: PontoonServer) {
    this.ids = new IdGenerator(s.id, Date.now())
  }

  /** LeaseGrant: the id is the client's, or one from etcd's request id generator. */
  async grant(ttl: number, id: bigint): Promise<LeaseGrantResponse> {
    while (id === 0n) id = this.ids.next() & 0x7fff_ffff_ffff_ffffn
    const res = await this.s.propose({ type: 'leaseGrant', leaseGrant: { id, ttl } })
    if (res.type !== 'leaseGrant') throw unexpected(res.type)
    return res.resp
  }

  async revoke(id: bigint): Promise<ResponseHeader | null> {
    const res = await this.s.propose({ type: 'leaseRevoke', leaseRevoke: { id } })
    if (res.type !== 'leaseRevoke') throw unexpected(res.type)
    return res.resp.header
  }

  /**
   * A keepalive (etcd's LeaseRenew): on the leader its lessor renews; elsewhere it waits for the
   * end of the turn and goes to the leader's peer port with the other keepalives asked for
   * meanwhile (one POST per batch, at most two batches in flight), tried again until etcd's
   * request timeout. LEASE_NOT_FOUND for an unknown or expired lease; NO_LEADER when none is
   * known in time.
   */
  async renew(id: bigint): Promise<number> {
    const lessor = this.s.machine.lessor
    if (lessor.isPrimary) return lessor.renew(id)
    return new Promise((resolve, reject) => {
      this.renews.push({ id, resolve, reject })
      this.scheduleRenewFlush()
    })
  }

  /** After this turn: the keepalives asked for meanwhile go to the leader together. */
  private scheduleRenewFlush(): void {
    if (this.renewFlushScheduled || this.renewBatchesInFlight >= RENEW_BATCHES_IN_FLIGHT_MAX) return
    this.renewFlushScheduled = true
    setImmediate(() => {
      this.renewFlushScheduled = false
      while (this.renews.length > 0 && this.renewBatchesInFlight < RENEW_BATCHES_IN_FLIGHT_MAX) {
        const batch = this.renews.splice(0, RENEW_BATCH_MAX)
        this.renewBatchesInFlight++
        this.forwardRenews(batch).finally(() => {
          this.renewBatchesInFlight--
          if (this.renews.length > 0) this.scheduleRenewFlush()
        })
      }
    })
  }

  private async forwardRenews(batch: PendingRenew[]): Promise<void> {
    const body = Buffer.allocUnsafe(8 * batch.length)
    for (let i = 0; i < batch.length; i++) body.writeBigUInt64BE(batch[i]!.id, 8 * i)
    let answer: Uint8Array
    try {
      answer = await this.forward(LEASE_RENEW_PATH, body)
      if (answer.length !== body.length) {
        throw new ServerError(
          'INTERNAL',
          `etcdserver: ${answer.length} bytes of TTLs for ${batch.length} leases`,
        )
      }
    } catch (err) {
      for (const r of batch) r.reject(err)
      return
    }
    const ttls = Buffer.from(answer.buffer, answer.byteOffset, answer.length)
    for (let i = 0; i < batch.length; i++) {
      const ttl = Number(ttls.readBigInt64BE(8 * i))
      if (ttl > 0) batch[i]!.resolve(ttl)
      else batch[i]!.reject(new ServerError('LEASE_NOT_FOUND'))
    }
  }

  /** LeaseTimeToLive: the leader's view (remaining TTL); -1 for an unknown lease, as etcd. */
  async timeToLive(r: LeaseTimeToLiveRequest): Promise<LeaseTimeToLiveResponse> {
    const lessor = this.s.machine.lessor
    const notFound = { header: null, id: r.id, ttl: -1, grantedTtl: 0, keys: [] }
    if (lessor.isPrimary) return this.localTimeToLive(r) ?? notFound
    const body = encodeMessage(LeaseInternalRequestCodec, { leaseTimeToLiveRequest: r })
    try {
      const answer = await this.forward(LEASE_INTERNAL_PATH, body)
      const resp = decodeMessage(LeaseInternalResponseCodec, answer).leaseTimeToLiveResponse
      return resp === null ? notFound : { ...resp, header: null }
    } catch (err) {
      if (ServerError.is(err, 'LEASE_NOT_FOUND')) return notFound
      throw err
    }
  }

  private localTimeToLive(r: LeaseTimeToLiveRequest): LeaseTimeToLiveResponse | undefined {
    const info = this.s.machine.lessor.lookup(r.id, r.keys)
    if (info === undefined) return undefined
    // etcd: int64(Remaining().Seconds()), truncated.
    const ttl = Number.isFinite(info.remainingMs)
      ? Math.max(0, Math.trunc(info.remainingMs / 1000))
      : info.ttlSeconds
    return { header: null, id: r.id, ttl, grantedTtl: info.ttlSeconds, keys: info.keys }
  }

  /** The leader's lessor found these expired: each gets a LeaseRevoke proposal. */
  revokeExpired(ids: readonly bigint[]): void {
    this.expiredQueue.push(...ids)
    this.pumpRevokes()
  }

  private pumpRevokes(): void {
    while (this.revokesInFlight < PENDING_REVOKES_MAX && this.expiredQueue.length > 0) {
      const id = this.expiredQueue.shift() as bigint
      this.revokesInFlight++
      this.revoke(id)
        .catch((err: unknown) => {
          // Revoked meanwhile, or not leader any more: the next leader's lessor expires it.
          if (!ServerError.is(err, 'LEASE_NOT_FOUND')) {
            this.s.logger.warn(
              { 'lease-id': id.toString(16), error: (err as Error).message },
              'failed to revoke lease',
            )
          }
        })
        .finally(() => {
          this.revokesInFlight--
          this.pumpRevokes()
        })
    }
  }

  /** The leader's lessor checkpoints remaining TTLs through raft. */
  checkpoint(checkpoints: LeaseCheckpoint[]): void {
    this.s
      .propose({ type: 'leaseCheckpoint', leaseCheckpoint: { checkpoints } })
      .catch((err: unknown) =>
        this.s.logger.warn(
          { error: (err as Error).message, count: checkpoints.length },
          'failed to checkpoint leases',
        ),
      )
  }

  /** The peer port's POST /leases and /leases/internal (etcd's leasehttp handler). */
  httpPost(path: string, body: Uint8Array): Promise<HttpAnswer> | undefined {
    if (path === LEASE_RENEW_PATH) return Promise.resolve().then(() => this.answerRenews(body))
    if (path !== LEASE_PATH && path !== LEASE_INTERNAL_PATH) return undefined
    return Promise.resolve().then(() => this.answerHttp(path, body))
  }

  /** The leader renews a follower's batch of keepalives (LEASE_RENEW_PATH). */
  private answerRenews(body: Uint8Array): HttpAnswer {
    const lessor = this.s.machine.lessor
    if (body.length % 8 !== 0) {
      return { status: 400, headers: TEXT, body: 'error unmarshalling request\n' }
    }
    if (!lessor.isPrimary) {
      return { status: 400, headers: TEXT, body: `${new ServerError('NOT_LEADER').message}\n` }
    }
    const ids = Buffer.from(body.buffer, body.byteOffset, body.length)
    const ttls = Buffer.allocUnsafe(body.length)
    for (let at = 0; at < body.length; at += 8) {
      let ttl = 0
      try {
        ttl = lessor.renew(ids.readBigUInt64BE(at))
      } catch (err) {
        if (!ServerError.is(err, 'LEASE_NOT_FOUND')) throw err
      }
      ttls.writeBigInt64BE(BigInt(ttl), at)
    }
    return { status: 200, headers: OCTETS, body: ttls }
  }

  private answerHttp(path: string, body: Uint8Array): HttpAnswer {
    const lessor = this.s.machine.lessor
    try {
      if (path === LEASE_PATH) {
        const { id } = decodeMessage(LeaseKeepAliveRequestCodec, body)
        const ttl = lessor.renew(id)
        return ok(LeaseKeepAliveResponseCodec, { header: null, id, ttl })
      }
      const q = decodeMessage(LeaseInternalRequestCodec, body).leaseTimeToLiveRequest
      if (q === null || !lessor.isPrimary) throw new ServerError('NOT_LEADER')
      const resp = this.localTimeToLive(q)
      if (resp === undefined) throw new ServerError('LEASE_NOT_FOUND')
      return ok(LeaseInternalResponseCodec, { leaseTimeToLiveResponse: resp })
    } catch (err) {
      if (ServerError.is(err, 'LEASE_NOT_FOUND')) {
        return { status: 404, headers: TEXT, body: `${err.message}\n` }
      }
      if (err instanceof ServerError)
        return { status: 400, headers: TEXT, body: `${err.message}\n` }
      return { status: 400, headers: TEXT, body: 'error unmarshalling request\n' }
    }
  }

  /**
   * POSTs `body` to the leader's peer port until it answers 200 (its bytes) or 404
   * (LEASE_NOT_FOUND; on LEASE_RENEW_PATH, which answers not-found per lease, a 404 is a leader
   * without that path, tried again), within etcd's request timeout (5 s and two election
   * timeouts): NO_LEADER while no leader is known, TIMEOUT otherwise.
   */
  private async forward(path: string, body: Uint8Array): Promise<Uint8Array> {
    const cfg = this.s.config
    const deadline = Date.now() + 5000 + 2 * cfg.electionTimeoutMs
    let sawLeader = false
    while (Date.now() < deadline) {
      const lead = this.s.node.view.lead
      const leader = lead === 0n ? undefined : this.s.machine.members.get(lead)
      if (leader !== undefined) {
        sawLeader = true
        for (const url of leader.peerUrls) {
          const res = await post(this.agent, url + path, body, deadline - Date.now()).catch(
            () => undefined,
          )
          if (res === undefined) continue
          if (res.status === 200) return res.body
          if (res.status === 404 && path !== LEASE_RENEW_PATH) {
            throw new ServerError('LEASE_NOT_FOUND')
          }
        }
      }
      await new Promise((resolve) => setTimeout(resolve, FORWARD_RETRY_MS))
    }
    throw new ServerError(sawLeader ? 'TIMEOUT' : 'NO_LEADER')
  }

  close(): void {
    this.agent.destroy()
  }
}

function ok<T>(codec: MessageCodec<T>, v: T): HttpAnswer {
  return { status: 200, headers: PROTOBUF, body: encodeMessage(codec, v) }
}

function post(
  agent: http.Agent,
  url: string,
  body: Uint8Array,
  timeoutMs: number,
): Promise<{ status: number; body: Uint8Array }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      url,
      {
        method: 'POST',
        agent,
        headers: { ...PROTOBUF, 'Content-Length': body.length },
        timeout: Math.max(1, timeoutMs),
      },
      (res) => {
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => chunks.push(c))
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }))
        res.on('error', reject)
      },
    )
    req.on('timeout', () => req.destroy(new Error('timeout')))
    req.on('error', reject)
    req.end(body)
  })
}

function unexpected(type: string): ServerError {
  return new ServerError('INTERNAL', `etcdserver: unexpected apply result ${type}`)
}

/** Registers '/etcdserverpb.Lease/*' on the client port. */
export function registerLeaseService(rpc: RpcServer, s: PontoonServer, leases: Leases): void {
  const unary = unaryRegistrar(rpc, s)
  const fill = (h: ResponseHeader | null): ResponseHeader => fillHeader(s, h)

  unary('/etcdserverpb.Lease/LeaseGrant', LeaseGrantRequestCodec, LeaseGrantResponseCodec, (r) =>
    leases.grant(r.ttl, r.id),
  )
  unary(
    '/etcdserverpb.Lease/LeaseRevoke',
    LeaseRevokeRequestCodec,
    LeaseRevokeResponseCodec,
    async (r) => ({ header: await leases.revoke(r.id) }),
  )
  unary(
    '/etcdserverpb.Lease/LeaseTimeToLive',
    LeaseTimeToLiveRequestCodec,
    LeaseTimeToLiveResponseCodec,
    (r) => leases.timeToLive(r),
  )
  unary(
    '/etcdserverpb.Lease/LeaseLeases',
    LeaseLeasesRequestCodec,
    LeaseLeasesResponseCodec,
    () => ({
      header: null,
      leases: s.machine.lessor.ids().map((id) => ({ id })),
    }),
  )

  // One answer per request, in order; the header is taken before the renewal (etcd: a lease
  // revoked at revision 3 is never reported kept alive at revision 4).
  rpc.stream(
    '/etcdserverpb.Lease/LeaseKeepAlive',
    LeaseKeepAliveRequestCodec,
    LeaseKeepAliveResponseCodec,
    (call) => {
      if (s.machine.members.get(s.id)?.isLearner === true) {
        const e = new ServerError('NOT_SUPPORTED_FOR_LEARNER')
        call.finish(new RpcError(e.status, e.message))
        return
      }
      // etcd's stream interceptor: a client that requires a leader (clientv3's lessor sets
      // "hasleader") is refused while this member knows none.
      if (call.metadata.hasleader === 'true' && s.node.view.lead === 0n) {
        const e = new ServerError('NO_LEADER')
        call.finish(new RpcError(e.status, e.message))
        return
      }
      let chain = Promise.resolve()
      let ended = false
      let drained: (() => void) | null = null
      call.onDrain = () => {
        drained?.()
        drained = null
      }
      call.signal.addEventListener('abort', () => {
        ended = true
        drained?.()
        drained = null
      })
      const answer = async (id: bigint): Promise<void> => {
        if (ended) return
        const header = fill(null)
        let ttl: number
        try {
          ttl = await leases.renew(id)
        } catch (err) {
          if (ServerError.is(err, 'LEASE_NOT_FOUND')) ttl = 0
          else {
            ended = true
            const e = toServerError(err)
            call.finish(new RpcError(e.status, e.message))
            return
          }
        }
        const resp: LeaseKeepAliveResponse = { header, id, ttl }
        if (!call.send(resp)) await new Promise<void>((resolve) => (drained = resolve))
      }
      call.onMessage = (req) => {
        chain = chain.then(() => answer(req.id))
      }
      call.onHalfClose = () => {
        chain = chain.then(() => {
          if (ended) return
          ended = true
          call.finish()
        })
      }
    },
  )
}
