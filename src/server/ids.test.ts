// Goal: ids equal etcd's for the same flags. Method: the ids etcd 3.4.23 reported for a default
// single member (`etcd` with no cluster flags: member 8e9e05c52164694d, cluster
// cdf818194e3a8c32) and for a three-member cluster started by the differential tests' flags.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { clusterId, hexId, memberId } from './ids.js'

test("a default member has etcd's default ids", () => {
  const m = memberId(['http://localhost:2380'], 'etcd-cluster')
  assert.equal(hexId(m), '8e9e05c52164694d')
  assert.equal(hexId(clusterId([m])), 'cdf818194e3a8c32')
})

test('peer URLs are sorted before hashing; the token changes the id', () => {
  const a = memberId(['http://b:2380', 'http://a:2380'], 't')
  assert.equal(a, memberId(['http://a:2380', 'http://b:2380'], 't'))
  assert.notEqual(a, memberId(['http://a:2380', 'http://b:2380'], 'u'))
  assert.equal(clusterId([1n, 2n, 3n]), clusterId([3n, 1n, 2n]))
})

test("etcd's Procfile cluster has the ids etcd's documentation shows", () => {
  const ids = ['http://127.0.0.1:12380', 'http://127.0.0.1:22380', 'http://127.0.0.1:32380'].map(
    (u) => hexId(memberId([u], 'etcd-cluster-1')),
  )
  assert.deepEqual(ids, ['8211f1d0f64f3269', '91bc3c398fb3c146', 'fd422379fda50e48'])
})
