/**
 * Peer URLs: etcd's --listen-peer-urls and --initial-advertise-peer-urls, `http://host:port`.
 * They are checked as etcd's types.NewURLs checks them (a scheme, a host and an explicit port,
 * no path), with etcd's texts, and one more rule: only `http` for now. TLS (`https`) comes with
 * a Net over node:tls; a unix socket URL is etcd's test-only feature.
 */
import { isIP } from 'node:net'
import { TransportError } from './errors.js'

export interface PeerUrl {
  /** The URL as given, normalised: lower-case scheme, no trailing slash. */
  readonly url: string
  /** A host name or an IP address; an IPv6 address without its brackets. */
  readonly host: string
  readonly port: number
}

const URL_SHAPE = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/([^/?#]*)(.*)$/s
const HOST_PORT = /^(\[[0-9A-Fa-f:.]+\]|[^:[\]@\s]+):([0-9]{1,5})$/
const HOST_NAME = /^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$/

/**
 * Parses one peer URL; throws TransportError INVALID_URL naming it. Port 0 (any free port) is
 * allowed only for a URL to listen on.
 */
export function parsePeerUrl(text: string, opts: { listen?: boolean } = {}): PeerUrl {
  const bad = (why: string): never => {
    throw new TransportError('INVALID_URL', `invalid peer URL ${JSON.stringify(text)}: ${why}`)
  }
  const m = URL_SHAPE.exec(text)
  if (m === null) return bad('expected http://host:port')
  const scheme = (m[1] as string).toLowerCase()
  const authority = m[2] as string
  const rest = m[3] as string
  if (scheme === 'https' || scheme === 'unix' || scheme === 'unixs') {
    bad(`scheme ${scheme} is not supported yet (peer TLS comes later): use http`)
  }
  if (scheme !== 'http') bad('URL scheme must be http, https, unix, or unixs')
  if (rest !== '' && rest !== '/') bad('URL must not contain a path')
  const hp = HOST_PORT.exec(authority)
  if (hp === null) return bad('URL address does not have the form "host:port"')
  let host = hp[1] as string
  const port = Number(hp[2])
  if (host.startsWith('[')) {
    host = host.slice(1, -1)
    if (isIP(host) !== 6) bad(`${host} is not an IPv6 address`)
  } else if (isIP(host) === 0 && !HOST_NAME.test(host)) {
    bad(`${host} is neither a host name nor an IP address`)
  }
  if (port > 65535) bad(`port ${port} is above 65535`)
  if (port === 0 && opts.listen !== true) bad('port 0 is only for a URL to listen on')
  const shown = isIP(host) === 6 ? `[${host}]` : host
  return { url: `http://${shown}:${port}`, host, port }
}

/** Parses a member's peer URLs (at least one, no duplicates). */
export function parsePeerUrls(
  texts: readonly string[],
  opts: { listen?: boolean } = {},
): PeerUrl[] {
  if (texts.length === 0) throw new TransportError('INVALID_URL', 'no peer URL given')
  const urls = texts.map((t) => parsePeerUrl(t, opts))
  const seen = new Set<string>()
  for (const u of urls) {
    if (seen.has(u.url)) throw new TransportError('INVALID_URL', `peer URL ${u.url} given twice`)
    seen.add(u.url)
  }
  return urls
}

/**
 * The address to bind or dial for a URL's host: "localhost" is 127.0.0.1, as etcd binds it (a
 * resolver may answer ::1 first, and a member listening on 127.0.0.1 would not be found there).
 */
export function netHost(u: PeerUrl): string {
  return u.host.toLowerCase() === 'localhost' ? '127.0.0.1' : u.host
}
