/**
 * The state behind the data-driven interaction tests (etcd-io/raft rafttest/interaction_env.go):
 * the nodes of one raft group, the messages in flight between them, each node's storage and
 * "appender" state machine history, and the output buffer the directives write to.
 *
 * The harness owns no raft logic: it drives RawNodes through `Deps` and prints what they do.
 */

import { AssertionError } from '../assert.js'
import { RaftError } from '../errors.js'
import {
  LocalApplyThread,
  LocalAppendThread,
  type ConfState,
  type Entry,
  type HardState,
  type Message,
  type NodeId,
  type Snapshot,
} from '../raftpb/types.js'
import type { ConfigLike, Deps, RawNodeLike, StorageLike } from './deps.js'
import { RedirectLogger } from './interaction-logger.js'

/** An error the Go harness returns to Handle, which prints its text as the directive's output. */
export class HarnessError extends Error {
  override readonly name = 'HarnessError'
}

/** A failure the Go harness reports with t.Fatal: the test file itself is malformed. */
export class HarnessFatal extends Error {
  override readonly name = 'HarnessFatal'
}

/** True for the errors Go returns as values (printed as output); anything else fails the test. */
export function isReportable(err: unknown): err is Error {
  return err instanceof RaftError || err instanceof HarnessError
}

export function isLocalMsgTarget(id: NodeId): boolean {
  return id === LocalAppendThread || id === LocalApplyThread
}

export function cloneConfState(cs: ConfState): ConfState {
  return {
    voters: [...cs.voters],
    learners: [...cs.learners],
    votersOutgoing: [...cs.votersOutgoing],
    learnersNext: [...cs.learnersNext],
    autoLeave: cs.autoLeave,
  }
}

export function cloneSnapshot(snap: Snapshot): Snapshot {
  const { index, term, confState } = snap.metadata
  return {
    data: snap.data.slice(),
    metadata: { index, term, confState: cloneConfState(confState) },
  }
}

/**
 * A MemoryStorage whose snapshot() is the node's latest History entry, the state of its appender
 * state machine, rather than whatever MemoryStorage last compacted to (as etcd's harness does).
 */
export class HistoryStorage implements StorageLike {
  constructor(
    private readonly inner: StorageLike,
    /** Shared with the node, which appends to it as entries apply. Never empty once used. */
    private readonly history: Snapshot[],
  ) {}

  snapshot(): Snapshot {
    const last = this.history[this.history.length - 1]
    if (last === undefined) throw new AssertionError('snapshot requested before node creation')
    return last
  }

  initialState(): { hardState: HardState; confState: ConfState } {
    return this.inner.initialState()
  }
  entries(lo: number, hi: number, maxSize: number): Entry[] {
    return this.inner.entries(lo, hi, maxSize)
  }
  term(index: number): number {
    return this.inner.term(index)
  }
  lastIndex(): number {
    return this.inner.lastIndex()
  }
  firstIndex(): number {
    return this.inner.firstIndex()
  }
  setHardState(hs: HardState): void {
    this.inner.setHardState(hs)
  }
  applySnapshot(snap: Snapshot): void {
    this.inner.applySnapshot(snap)
  }
  compact(compactIndex: number): void {
    this.inner.compact(compactIndex)
  }
  append(entries: Entry[]): void {
    this.inner.append(entries)
  }
}

/** A member of the group. Its id is its position in `env.nodes` plus one. */
export interface InteractionNode {
  readonly rawNode: RawNodeLike
  readonly storage: HistoryStorage
  readonly config: ConfigLike
  /** MsgStorageAppend messages waiting for the append thread (async storage writes only). */
  appendWork: Message[]
  /** MsgStorageApply messages waiting for the apply thread (async storage writes only). */
  applyWork: Message[]
  /** The appender state machine after each applied entry; history[0] is the initial snapshot. */
  readonly history: Snapshot[]
}

export class InteractionEnv {
  readonly nodes: InteractionNode[] = []
  /** Network messages in flight, in the order they were sent. */
  messages: Message[] = []
  readonly output = new RedirectLogger()

  constructor(readonly deps: Deps) {}

  /** The node at a 0-based index; a missing node means the test file is wrong. */
  node(idx: number): InteractionNode {
    const node = this.nodes[idx]
    if (node === undefined) {
      throw new HarnessFatal(`node index ${idx} out of range [0, ${this.nodes.length})`)
    }
    return node
  }

  /** Runs f, then re-emits everything it printed indented by two spaces, line by line. */
  withIndent(f: () => void): void {
    const outer = this.output.swap('')
    try {
      f()
    } finally {
      const inner = this.output.swap(outer)
      this.output.writeUnfiltered(indentLines(inner))
    }
  }
}

// Mirrors Go's bufio.Scanner over the captured text: a final unterminated line still counts,
// a trailing newline does not start another, and a carriage return before a newline is dropped.
function indentLines(text: string): string {
  const lines = text.split('\n')
  if (lines[lines.length - 1] === '') lines.pop()
  return lines.map((line) => `  ${line.endsWith('\r') ? line.slice(0, -1) : line}\n`).join('')
}
