// Goal: the lease benchmark does not rot. Method: one tiny run against etcd and pontoon; the
// benchmark checks every answer itself (a grant that fails or a keepalive answered TTL 0 throws).
// Timings are not asserted.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { slow } from '../../test-support/quick.js'
import { leaseBench, parseLeaseOptions } from './lease.bench.js'

test('lease benchmark runs', slow('benchmark: an etcd and a pontoon process'), async () => {
  const o = parseLeaseOptions([
    '--repeat=1',
    '--clients=4',
    '--grants=50',
    '--leases=100',
    '--keepalive=0.3',
    '--warmup=0.2',
    '--quiet',
  ])
  const out = await leaseBench(o)
  assert.match(out, /^\| lease grant +\| +[\d,]+ \/s \| +[\d,]+ \/s \|/m)
  assert.match(out, /^\| keepalive \(streams, closed loop\) +\|/m)
  // Both servers answered the live-heap question (etcd's pprof, pontoon's heap snapshot).
  assert.match(out, /^\| live heap per idle lease \(100\) +\| +-?[\d,]+ B \| +-?[\d,]+ B \|/m)
})
