/**
 * The data-driven handler for etcd-io/raft's confchange/testdata (a port of
 * confchange/datadriven_test.go). One handler per file: it carries the tracker from one
 * directive to the next.
 *
 *   simple                     v1 l2 r3 u4   (make voter, make learner, remove, update)
 *   enter-joint [autoleave=b]  v1 ...
 *   leave-joint
 *
 * The output is the new configuration and progress map, or the error text. The last index grows
 * by one per directive, so `next` shows in which directive a peer was added.
 */

import { Changer } from '../confchange/confchange.js'
import { RaftError } from '../errors.js'
import { ConfChangeType } from '../raftpb/types.js'
import type { ConfChangeSingle } from '../raftpb/types.js'
import { ProgressTracker } from '../tracker/tracker.js'
import type { ConfChangeResult } from '../confchange/confchange.js'
import { argVals, parseGoBool, parseGoUint64 } from './datadriven.js'
import type { Directive, Handler } from './datadriven.js'

export function createConfChangeHandler(): Handler {
  const tracker = new ProgressTracker(10, 0)
  let lastIndex = 0
  return (d) => {
    try {
      return handleConfChange(d, tracker, lastIndex)
    } finally {
      lastIndex++
    }
  }
}

function handleConfChange(d: Directive, tracker: ProgressTracker, lastIndex: number): string {
  const ccs = parseChanges(d.input)
  if (typeof ccs === 'string') return ccs
  const changer = new Changer(tracker, lastIndex)
  let result: ConfChangeResult
  try {
    switch (d.cmd) {
      case 'simple':
        result = changer.simple(ccs)
        break
      case 'enter-joint':
        result = changer.enterJoint(autoLeaveArg(d), ccs)
        break
      case 'leave-joint':
        if (ccs.length > 0) return 'this command takes no input\n'
        result = changer.leaveJoint()
        break
      default:
        return 'unknown command'
    }
  } catch (err) {
    if (RaftError.is(err, 'CONF_CHANGE')) return err.message + '\n'
    throw err
  }
  tracker.config = result.config
  tracker.progress = result.progress
  return `${tracker.config}\n${tracker.progress}`
}

function autoLeaveArg(d: Directive): boolean {
  if (d.args.length === 0) return false
  const vals = argVals(d, 'autoleave')
  if (vals === undefined) throw new Error('missing argument: autoleave')
  if (vals.length !== 1) throw new Error(`autoleave: got 1 destinations, but ${vals.length} values`)
  return parseGoBool(vals[0] as string)
}

/**
 * A private parser for the `v1 l2 r3 u4` input (raftpb has the shared one). Returns the error
 * text the Go harness prints for a bad token.
 */
function parseChanges(input: string): ConfChangeSingle[] | string {
  const trimmed = input.trim()
  if (trimmed === '') return []
  const ccs: ConfChangeSingle[] = []
  for (const tok of trimmed.split(' ')) {
    if (tok.length < 2) return `unknown token ${tok}`
    const type = changeTypes.get(tok[0] as string)
    if (type === undefined) return `unknown input: ${tok}`
    try {
      ccs.push({ type, nodeId: parseGoUint64(tok.slice(1)) })
    } catch (err) {
      return (err as Error).message
    }
  }
  return ccs
}

const changeTypes = new Map<string, ConfChangeType>([
  ['v', ConfChangeType.ConfChangeAddNode],
  ['l', ConfChangeType.ConfChangeAddLearnerNode],
  ['r', ConfChangeType.ConfChangeRemoveNode],
  ['u', ConfChangeType.ConfChangeUpdateNode],
])
