/**
 * etcd's v3 services on the RPC server: KV (Range, Put, DeleteRange, Txn, Compact), Maintenance
 * (Status) and Cluster (MemberList), plus HTTP /health and /version on the client port. Each
 * handler checks its request as etcd's v3rpc does, proposes writes through raft, serves reads
 * locally (after a ReadIndex round unless serializable), and turns every failure into etcd's
 * status and text through the one table (errors.ts).
 */
import {
  CompactionRequestCodec,
  CompactionResponseCodec,
  DeleteRangeRequestCodec,
  DeleteRangeResponseCodec,
  MemberAddRequestCodec,
  MemberAddResponseCodec,
  MemberListRequestCodec,
  MemberListResponseCodec,
  MemberPromoteRequestCodec,
  MemberPromoteResponseCodec,
  MemberRemoveRequestCodec,
  MemberRemoveResponseCodec,
  MemberUpdateRequestCodec,
  MemberUpdateResponseCodec,
  PutRequestCodec,
  PutResponseCodec,
  RangeRequestCodec,
  RangeResponseCodec,
  RpcError,
  StatusRequestCodec,
  StatusResponseCodec,
  TxnRequestCodec,
  TxnResponseCodec,
  type MessageCodec,
  type ResponseHeader,
  type RpcServer,
} from '../api/index.js'
import { applyRange, applyTxn, noLeases, txnSerializable, txnWrites } from './apply-kv.js'
import { checkDelete, checkPut, checkRange, checkTxn } from './checks.js'
import { ServerError } from './errors.js'
import type { Member } from './members.js'
import { memberOps } from './member-service.js'
import type { PontoonServer } from './server.js'
import { CLUSTER_VERSION, ETCD_VERSION, PONTOON_VERSION, toServerError } from './server.js'

/** A response header as etcd fills it: this member, the cluster, the raft term, the revision. */
export function fillHeader(s: PontoonServer, h: ResponseHeader | null): ResponseHeader {
  const out = h ?? { clusterId: 0n, memberId: 0n, revision: 0, raftTerm: 0 }
  out.clusterId = s.clusterId
  out.memberId = s.id
  out.raftTerm = s.node.view.term // a getter: no status object per request
  if (out.revision === 0) out.revision = s.kv.currentRevision
  return out
}

/** A registrar of unary methods on `rpc`: etcd's learner rule, headers, errors to gRPC status. */
export type UnaryRegistrar = <Q, R extends { header: ResponseHeader | null }>(
  path: string,
  req: MessageCodec<Q>,
  res: MessageCodec<R>,
  handler: (q: Q) => Promise<R> | R,
) => void

export function unaryRegistrar(rpc: RpcServer, s: PontoonServer): UnaryRegistrar {
  return (path, req, res, handler) => {
    rpc.unary(path, req, res, async (q) => {
      try {
        // A learner serves only what etcd 3.4 lets it (v3rpc isRPCSupportedForLearner): Status
        // and serializable ranges; it may lag and it has no vote, so nothing else is answered.
        if (s.machine.members.get(s.id)?.isLearner === true && !learnerMay(path, q)) {
          throw new ServerError('NOT_SUPPORTED_FOR_LEARNER')
        }
        const r = await handler(q)
        r.header = fillHeader(s, r.header)
        return r
      } catch (err) {
        const e = toServerError(err)
        throw new RpcError(e.status, e.message)
      }
    })
  }
}

export function registerServices(rpc: RpcServer, s: PontoonServer): void {
  const unary = unaryRegistrar(rpc, s)

  const maxTxnOps = s.config.maxTxnOps
  const bounds = () => ({
    currentRevision: s.kv.currentRevision,
    compactedRevision: s.kv.compactMainRevision,
  })

  unary('/etcdserverpb.KV/Range', RangeRequestCodec, RangeResponseCodec, async (r) => {
    checkRange(r)
    if (!r.serializable) await s.linearizableRead()
    return applyRange(s.kv, r)
  })
  unary('/etcdserverpb.KV/Put', PutRequestCodec, PutResponseCodec, async (r) => {
    checkPut(r)
    const res = await s.propose({ type: 'put', put: r })
    if (res.type !== 'put') throw unexpected(res.type)
    return res.resp
  })
  unary(
    '/etcdserverpb.KV/DeleteRange',
    DeleteRangeRequestCodec,
    DeleteRangeResponseCodec,
    async (r) => {
      checkDelete(r)
      const res = await s.propose({ type: 'deleteRange', deleteRange: r })
      if (res.type !== 'deleteRange') throw unexpected(res.type)
      return res.resp
    },
  )
  unary('/etcdserverpb.KV/Txn', TxnRequestCodec, TxnResponseCodec, async (r) => {
    checkTxn(r, maxTxnOps)
    if (!txnWrites(r)) {
      // A read-only txn is served here, as etcd serves it: after a ReadIndex round unless every
      // range in it is serializable.
      if (!txnSerializable(r)) await s.linearizableRead()
      return applyTxn(s.kv, undefined, r, noLeases, bounds())
    }
    const res = await s.propose({ type: 'txn', txn: r })
    if (res.type !== 'txn') throw unexpected(res.type)
    return res.resp
  })
  unary('/etcdserverpb.KV/Compact', CompactionRequestCodec, CompactionResponseCodec, async (r) => {
    const res = await s.propose({ type: 'compaction', compaction: r })
    if (res.type !== 'compaction') throw unexpected(res.type)
    if (r.physical) await res.done
    // etcd answers with the revision current when the compaction returns.
    return { header: { ...res.resp.header!, revision: s.kv.currentRevision } }
  })

  unary('/etcdserverpb.Maintenance/Status', StatusRequestCodec, StatusResponseCodec, () => {
    const st = s.node.status()
    const me = s.machine.members.get(s.id)
    return {
      header: null,
      version: ETCD_VERSION,
      dbSize: s.kv.dbSize(),
      leader: st.lead,
      raftIndex: st.committed,
      raftTerm: st.term,
      raftAppliedIndex: st.applied,
      errors: [],
      dbSizeInUse: s.kv.dbSizeInUse(),
      isLearner: me?.isLearner ?? false,
    }
  })
  unary(
    '/etcdserverpb.Cluster/MemberList',
    MemberListRequestCodec,
    MemberListResponseCodec,
    () => ({
      header: null,
      members: s.machine.members.list().map(wireMember),
    }),
  )
  const ops = memberOps(s)
  unary(
    '/etcdserverpb.Cluster/MemberAdd',
    MemberAddRequestCodec,
    MemberAddResponseCodec,
    async (r) => {
      const { member, members } = await ops.add(r.peerUrls, r.isLearner)
      return { header: null, member: wireMember(member), members: members.map(wireMember) }
    },
  )
  unary(
    '/etcdserverpb.Cluster/MemberRemove',
    MemberRemoveRequestCodec,
    MemberRemoveResponseCodec,
    async (r) => ({ header: null, members: (await ops.remove(r.id)).map(wireMember) }),
  )
  unary(
    '/etcdserverpb.Cluster/MemberUpdate',
    MemberUpdateRequestCodec,
    MemberUpdateResponseCodec,
    async (r) => ({ header: null, members: (await ops.update(r.id, r.peerUrls)).map(wireMember) }),
  )
  unary(
    '/etcdserverpb.Cluster/MemberPromote',
    MemberPromoteRequestCodec,
    MemberPromoteResponseCodec,
    async (r) => ({ header: null, members: (await ops.promote(r.id)).map(wireMember) }),
  )

  rpc.http('/version', () => ({
    status: 200,
    headers: { ...CORS, 'content-type': 'application/json' },
    body: JSON.stringify({
      etcdserver: ETCD_VERSION,
      etcdcluster: CLUSTER_VERSION,
      pontoon: PONTOON_VERSION,
    }),
  }))
  rpc.http('/health', async () => {
    // etcd's /health: a leader, and a linearizable read that completes within a second.
    let healthy = s.node.view.lead !== 0n
    if (healthy) {
      try {
        await withTimeout(s.linearizableRead(), 1000)
      } catch {
        healthy = false
      }
    }
    return {
      status: healthy ? 200 : 503,
      headers: { ...CORS, 'content-type': 'text/plain; charset=utf-8' },
      body: JSON.stringify({ health: String(healthy) }),
    }
  })
}

function wireMember(m: Member): {
  id: bigint
  name: string
  peerUrls: string[]
  clientUrls: string[]
  isLearner: boolean
} {
  return {
    id: m.id,
    name: m.name,
    peerUrls: m.peerUrls,
    clientUrls: m.clientUrls,
    isLearner: m.isLearner,
  }
}

function learnerMay(path: string, req: unknown): boolean {
  if (path === '/etcdserverpb.Maintenance/Status') return true
  return path === '/etcdserverpb.KV/Range' && (req as { serializable: boolean }).serializable
}

/** The headers etcd's HTTP handlers add to every answer. */
const CORS = {
  'access-control-allow-headers': 'accept, content-type, authorization',
  'access-control-allow-methods': 'POST, GET, OPTIONS, PUT, DELETE',
  'access-control-allow-origin': '*',
}

function unexpected(type: string): ServerError {
  return new ServerError('INTERNAL', `etcdserver: unexpected apply result ${type}`)
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error('timeout')), ms)
    p.then(
      (v) => {
        clearTimeout(t)
        resolve(v)
      },
      (e: unknown) => {
        clearTimeout(t)
        reject(e instanceof Error ? e : new Error(String(e)))
      },
    )
  })
}
