/**
 * etcd's Lease service on the client port (api/v3rpc/lease.go, etcdserver/v3_server.go) and the
 * lease half of its peer port (lease/leasehttp): LeaseGrant and LeaseRevoke go through raft;
 * LeaseKeepAlive (a bidi stream, one answer per request) and LeaseTimeToLive are answered by the
 * leader's lessor, which alone keeps lease time: a follower forwards them to the leader over the
 * peer port (POST /leases and /leases/internal with protobuf bodies, as etcd does); LeaseLeases
 * lists the local lessor's leases.
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

/** etcd's maxPendingRevokes: revoke proposals of expired leases in flight at once. */
const PENDING_REVOKES_MAX = 16
/** A forwarded request is tried again after this long (etcd: 50 ms). */
const FORWARD_RETRY_MS = 50

const PROTOBUF = { 'Content-Type': 'application/protobuf' }
const TEXT = { 'Content-Type': 'text/plain; charset=utf-8' }

/** The server's lease operations, local or forwarded to the leader. */
export class Leases {
  private readonly ids: IdGenerator
  private readonly expiredQueue: bigint[] = []
  private revokesInFlight = 0
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
   * A keepalive (etcd's LeaseRenew): on the leader its lessor renews; elsewhere the request goes
   * to the leader's peer port, tried again until etcd's request timeout. LEASE_NOT_FOUND for an
   * unknown or expired lease; NO_LEADER when none is known in time.
   */
  async renew(id: bigint): Promise<number> {
    const lessor = this.s.machine.lessor
    if (lessor.isPrimary) return lessor.renew(id)
    const body = encodeMessage(LeaseKeepAliveRequestCodec, { id })
    const answer = await this.forward(LEASE_PATH, body)
    return decodeMessage(LeaseKeepAliveResponseCodec, answer).ttl
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
    if (path !== LEASE_PATH && path !== LEASE_INTERNAL_PATH) return undefined
    return Promise.resolve().then(() => this.answerHttp(path, body))
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
   * (LEASE_NOT_FOUND), within etcd's request timeout (5 s and two election timeouts): NO_LEADER
   * while no leader is known, TIMEOUT otherwise.
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
          if (res.status === 404) throw new ServerError('LEASE_NOT_FOUND')
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
