/**
 * The handler for etcd-io/raft's interaction testdata (rafttest/interaction_env*.go).
 * A placeholder until the interaction environment is ported.
 */

import type { Handler } from './datadriven.js'

export function createInteractionHandler(): Handler {
  throw new Error('not implemented')
}
