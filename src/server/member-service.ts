/**
 * etcd's Cluster service beyond MemberList: MemberAdd, MemberRemove, MemberUpdate and
 * MemberPromote, as raft conf changes carrying the member's JSON in their context (as etcd's do).
 * The checks run here, before the proposal, in etcd's order: strict reconfiguration
 * (--strict-reconfig-check: etcd's mayAddMember / mayRemoveMember / mayPromoteMember, from the
 * members that published their attributes and the peers the transport is connected to now), then
 * etcd's ValidateConfigurationChange (ids and peer URLs), which etcd runs when it applies the
 * entry (docs/divergence.md).
 */
import type { ConfChange } from '../raft/index.js'
import { ConfChangeType } from '../raft/index.js'
import { ServerError } from './errors.js'
import { memberId } from './ids.js'
import { Members, type Member } from './members.js'
import { toServerError, type PontoonServer } from './server.js'
import { encodeMemberContext } from './state-machine.js'

/** etcd's readyPercent: a learner is promotable once its match is 90% of the leader's. */
const READY_PERCENT = 0.9

export interface MemberOps {
  add(peerUrls: string[], isLearner: boolean): Promise<{ member: Member; members: Member[] }>
  remove(id: bigint): Promise<Member[]>
  update(id: bigint, peerUrls: string[]): Promise<Member[]>
  promote(id: bigint): Promise<Member[]>
}

export function memberOps(s: PontoonServer): MemberOps {
  const members = (): Members => s.machine.members
  const strict = s.config.strictReconfigCheck
  const propose = async (cc: ConfChange): Promise<Member[]> => {
    try {
      await s.node.proposeConfChange(cc)
    } catch (err) {
      throw toServerError(err)
    }
    return members().list()
  }
  /** etcd's isConnectedFullySince over the voting members, this member counted as connected. */
  const connectedVoters = (): number =>
    members()
      .list()
      .filter((m) => !m.isLearner && s.peerActive(m.id)).length
  const voters = (): Member[] =>
    members()
      .list()
      .filter((m) => !m.isLearner)

  return {
    async add(peerUrls, isLearner) {
      const urls = checkUrls(peerUrls)
      // etcd's NewMember("", urls, "", now): the id hashes the peer URLs and the time.
      const id = memberId(urls, String(Math.floor(Date.now() / 1000)))
      const member: Member = { id, name: '', peerUrls: urls, clientUrls: [], isLearner }
      if (strict) {
        if (!isLearner && !readyToAddVoter(voters())) {
          throw new ServerError('MEMBER_NOT_ENOUGH_STARTED')
        }
        if (connectedVoters() < voters().length) throw new ServerError('UNHEALTHY')
      }
      const m = members()
      if (m.get(id) !== undefined || m.isRemoved(id)) throw new ServerError('MEMBER_EXIST')
      if (m.peerUrlOwner(urls) !== undefined) throw new ServerError('PEER_URL_EXIST')
      const list = await propose({
        id: 0n,
        type: isLearner
          ? ConfChangeType.ConfChangeAddLearnerNode
          : ConfChangeType.ConfChangeAddNode,
        nodeId: id,
        context: encodeMemberContext(member),
      })
      return { member, members: list }
    },

    async remove(id) {
      const m = members().get(id)
      if (strict && m !== undefined && !m.isLearner) {
        if (!readyToRemoveVoter(voters(), id)) throw new ServerError('MEMBER_NOT_ENOUGH_STARTED')
        // A member that is down may go: it is not part of the active quorum. Otherwise the
        // members still connected after the removal must keep a quorum.
        if (id === s.id || s.peerActive(id)) {
          const n = voters().length
          if (connectedVoters() - 1 < 1 + Math.floor((n - 1) / 2)) {
            throw new ServerError('UNHEALTHY')
          }
        }
      }
      if (m === undefined) throw new ServerError('MEMBER_NOT_FOUND')
      return propose({
        id: 0n,
        type: ConfChangeType.ConfChangeRemoveNode,
        nodeId: id,
        context: new Uint8Array(0),
      })
    },

    async update(id, peerUrls) {
      const urls = checkUrls(peerUrls)
      const m = members().get(id)
      if (m === undefined) throw new ServerError('MEMBER_NOT_FOUND')
      if (members().peerUrlOwner(urls, id) !== undefined) throw new ServerError('PEER_URL_EXIST')
      return propose({
        id: 0n,
        type: ConfChangeType.ConfChangeUpdateNode,
        nodeId: id,
        context: encodeMemberContext({ ...m, peerUrls: urls }),
      })
    },

    async promote(id) {
      // etcd's isLearnerReady, on the leader (etcd forwards a promote to the leader; a follower
      // here skips this check: docs/divergence.md).
      const rs = s.node.raftStatus()
      if (rs.progress.size > 0) {
        const learner = rs.progress.get(id)
        const leader = rs.progress.get(rs.id)
        if (learner !== undefined && leader !== undefined) {
          if (learner.match < leader.match * READY_PERCENT) {
            throw new ServerError('LEARNER_NOT_READY')
          }
        }
      }
      const m = members().get(id)
      if (m === undefined) throw new ServerError('MEMBER_NOT_FOUND')
      if (!m.isLearner) throw new ServerError('MEMBER_NOT_LEARNER')
      if (strict && !readyToAddVoter(voters())) {
        throw new ServerError('MEMBER_NOT_ENOUGH_STARTED')
      }
      return propose({
        id: 0n,
        type: ConfChangeType.ConfChangeAddNode,
        nodeId: id,
        context: encodeMemberContext({ ...m, isLearner: false }),
      })
    },
  }
}

/** etcd's IsReadyToAddVotingMember: the started voters stay a quorum with one more voter. */
function readyToAddVoter(voters: Member[]): boolean {
  const n = voters.length + 1
  const started = voters.filter(Members.started).length
  // Adding a second member to a one-member cluster (restoring a cluster from one member).
  if (started === 1 && n === 2) return true
  return started >= Math.floor(n / 2) + 1
}

/** etcd's IsReadyToRemoveVotingMember: the started voters left are a quorum of those left. */
function readyToRemoveVoter(voters: Member[], id: bigint): boolean {
  const left = voters.filter((m) => m.id !== id)
  const started = left.filter(Members.started).length
  return started >= Math.floor(left.length / 2) + 1
}

/** etcd's types.NewURLs: each an http(s) URL of host:port and nothing else; sorted. */
function checkUrls(urls: readonly string[]): string[] {
  if (urls.length === 0) throw new ServerError('MEMBER_BAD_URLS')
  const out: string[] = []
  for (const u of urls) {
    let p: URL
    try {
      p = new URL(u)
    } catch {
      throw new ServerError('MEMBER_BAD_URLS')
    }
    const hostPort = /^[^/]+:\d+$/.test(u.replace(/^[a-z]+:\/\//, '').replace(/\/$/, ''))
    const scheme = ['http:', 'https:', 'unix:', 'unixs:'].includes(p.protocol)
    if (!scheme || !hostPort || (p.pathname !== '' && p.pathname !== '/')) {
      throw new ServerError('MEMBER_BAD_URLS')
    }
    out.push(u)
  }
  return out.sort()
}
