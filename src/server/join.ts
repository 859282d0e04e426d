/**
 * Joining an existing cluster (--initial-cluster-state existing after `etcdctl member add`), as
 * etcd joins one: the new member asks the other members listed in --initial-cluster for the
 * cluster (GET /members on their peer URLs, etcd's peer handler; the answer carries the cluster
 * id in X-Etcd-Cluster-Id), finds itself in it by its peer URLs, and takes the id the member add
 * gave it. It then starts raft without peers and waits for the leader's snapshot.
 *
 * etcd's WAL holds the member id, so a restart reads it from there; Pontoon's WAL is opened with
 * the ids it must hold (a data dir of another member is refused), so the joined member saves
 * them beside the WAL (`member/identity.json`) and a restart reads them from it
 * (docs/divergence.md).
 */
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { ServerError } from './errors.js'
import type { ServerLogger } from './log.js'
import { Members } from './members.js'

const IDENTITY_FILE = 'identity.json'

export interface Identity {
  id: bigint
  clusterId: bigint
}

/** The ids a joined member was given, if this data dir is one's. */
export function readIdentity(memberDir: string): Identity | undefined {
  const path = join(memberDir, IDENTITY_FILE)
  if (!existsSync(path)) return undefined
  const o = JSON.parse(readFileSync(path, 'utf8')) as { memberId: string; clusterId: string }
  return { id: BigInt(`0x${o.memberId}`), clusterId: BigInt(`0x${o.clusterId}`) }
}

export function writeIdentity(memberDir: string, id: bigint, clusterId: bigint): void {
  const path = join(memberDir, IDENTITY_FILE)
  const body = JSON.stringify({ memberId: id.toString(16), clusterId: clusterId.toString(16) })
  writeFileSync(`${path}.tmp`, `${body}\n`, { mode: 0o600, flush: true })
  renameSync(`${path}.tmp`, path)
}

/**
 * Asks the other members of --initial-cluster for the cluster; resolves with this member's id
 * (the one whose peer URLs are `ownPeerUrls`), the cluster id and the members.
 */
export async function fetchCluster(
  initialCluster: ReadonlyMap<string, readonly string[]>,
  ownPeerUrls: readonly string[],
  log: ServerLogger,
): Promise<Identity & { members: Members }> {
  const own = new Set(ownPeerUrls)
  const urls = [...initialCluster.values()].flat().filter((u) => !own.has(u))
  const errors: string[] = []
  for (const u of urls) {
    let text: string
    let cid: string | null
    try {
      const res = await fetch(`${u.replace(/\/$/, '')}/members`, {
        signal: AbortSignal.timeout(1000),
      })
      if (res.status !== 200) throw new Error(`status ${res.status}`)
      cid = res.headers.get('x-etcd-cluster-id')
      text = await res.text()
    } catch (err) {
      errors.push(`${u}: ${(err as Error).message}`)
      log.warn({ address: u, error: (err as Error).message }, 'failed to get cluster response')
      continue
    }
    if (cid === null || !/^[0-9a-f]+$/i.test(cid)) {
      errors.push(`${u}: no X-Etcd-Cluster-Id`)
      continue
    }
    const members = Members.fromPeerJson(text)
    const me = members.list().find((m) => m.peerUrls.some((p) => own.has(p)))
    if (me === undefined) {
      throw new ServerError(
        'INTERNAL',
        `error validating peerURLs ${JSON.stringify(ownPeerUrls)}: no member of cluster ` +
          `${cid} has them; add this member first (etcdctl member add)`,
      )
    }
    return { id: me.id, clusterId: BigInt(`0x${cid}`), members }
  }
  throw new ServerError(
    'INTERNAL',
    `cannot fetch cluster info from peer urls: could not retrieve cluster information from ` +
      `the given URLs (${errors.join('; ') || 'no other member in --initial-cluster'})`,
  )
}
