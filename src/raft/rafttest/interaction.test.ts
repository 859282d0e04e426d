// Goal: check the interaction harness itself (argument parsing, output layout, log levels,
// error reporting) independently of raft. Method: drive createInteractionHandler with fake deps:
// a scripted RawNode that logs through its config's logger and answers votes, a recording
// storage, and one-line describe functions, then compare the directive outputs verbatim.

import assert from 'node:assert/strict'
import { describe, it } from 'node:test'

import { errProposalDropped, errStepPeerNotFound } from '../errors.js'
import {
  emptyConfState,
  emptySnapshot,
  message,
  MessageType,
  type ConfChange,
  type ConfChangeV2,
  type ConfState,
  type Entry,
  type HardState,
  type Message,
  type NodeId,
  type Snapshot,
} from '../raftpb/types.js'
import type {
  BasicStatusLike,
  CmdArg,
  ConfigLike,
  Deps,
  Directive,
  RawNodeLike,
  Ready,
  StatusLike,
  StorageLike,
} from './deps.js'
import { HarnessFatal } from './interaction-env.js'
import { createInteractionHandler } from './interaction.js'

/** Campaigns by sending MsgVote to every other configured node; grants every vote it gets. */
class FakeRawNode implements RawNodeLike {
  pending: Message[] = []
  ticks = 0
  dropProposals = false
  proposals: Uint8Array[] = []
  electionTimeout = 0
  readonly id: NodeId

  constructor(
    readonly config: ConfigLike,
    private readonly peers: () => NodeId[],
  ) {
    this.id = config.id
    config.logger.info(`newRaft ${this.id.toString(16)}`)
  }

  tick(): void {
    this.ticks++
  }
  campaign(): void {
    this.config.logger.info(`${this.id} became candidate at term 1`)
    this.config.logger.debug(`${this.id} debug detail`)
    for (const to of this.peers()) {
      if (to !== this.id)
        this.pending.push(message({ type: MessageType.MsgVote, from: this.id, to }))
    }
  }
  propose(data: Uint8Array): void {
    if (this.dropProposals) throw errProposalDropped()
    this.proposals.push(data)
  }
  proposeBatch(datas: readonly Uint8Array[]): void {
    for (const data of datas) this.propose(data)
  }
  proposeConfChange(_cc: ConfChange | ConfChangeV2): void {}
  applyConfChange(_cc: ConfChange | ConfChangeV2): ConfState {
    return emptyConfState()
  }
  step(m: Message): void {
    if (m.type === MessageType.MsgSnap) throw errStepPeerNotFound()
    if (m.type === MessageType.MsgVote) {
      this.pending.push(message({ type: MessageType.MsgVoteResp, from: this.id, to: m.from }))
    }
  }
  ready(): Ready {
    const messages = this.pending
    this.pending = []
    return {
      softState: null,
      hardState: null,
      readStates: [],
      entries: [],
      snapshot: null,
      committedEntries: [],
      messages,
      mustSync: false,
    }
  }
  hasReady(): boolean {
    return this.pending.length > 0
  }
  advance(): void {}
  basicStatus(): BasicStatusLike {
    return {
      id: this.id,
      hardState: { term: 1, vote: 0n, commit: 0 },
      softState: { lead: 1n, raftState: this.id === 1n ? 2 : 0 },
    }
  }
  status(): StatusLike {
    return { ...this.basicStatus(), config: { voters: { ids: () => [1n, 2n] } }, progress: null }
  }
  reportUnreachable(_id: NodeId): void {}
  transferLeader(_transferee: NodeId): void {}
  forgetLeader(): void {}
  setRandomizedElectionTimeout(ticks: number): void {
    this.electionTimeout = ticks
  }
}

/** Records what the harness persists; the log starts empty at index 1. */
class FakeStorage implements StorageLike {
  applied: Snapshot[] = []
  hardStates: HardState[] = []
  first = 1
  initialState(): { hardState: HardState; confState: ConfState } {
    return { hardState: { term: 0, vote: 0n, commit: 0 }, confState: emptyConfState() }
  }
  entries(_lo: number, _hi: number, _maxSize: number): Entry[] {
    return []
  }
  term(_index: number): number {
    return 0
  }
  lastIndex(): number {
    return this.first - 1
  }
  firstIndex(): number {
    return this.first
  }
  snapshot(): Snapshot {
    return emptySnapshot()
  }
  setHardState(hs: HardState): void {
    this.hardStates.push(hs)
  }
  applySnapshot(snap: Snapshot): void {
    this.applied.push(snap)
    this.first = snap.metadata.index + 1
  }
  compact(_compactIndex: number): void {}
  append(_entries: Entry[]): void {}
}

function describeMessage(m: Message): string {
  const snap = m.snapshot === null ? '' : `\n  Snapshot: Index:${m.snapshot.metadata.index}`
  return `${m.from}->${m.to} ${MessageType[m.type]}${snap}`
}

/** Splits `cmd a b=c d=(e,f)` the way the datadriven parser does (enough for these tests). */
function parseLine(line: string): { cmd: string; args: CmdArg[] } {
  const [cmd = '', ...tokens] = line.trim().split(/\s+/)
  const args = tokens.map((tok): CmdArg => {
    const eq = tok.indexOf('=')
    if (eq < 0) return { key: tok, vals: [] }
    const val = tok.slice(eq + 1)
    const vals = val.startsWith('(') ? val.slice(1, -1).split(',') : [val]
    return { key: tok.slice(0, eq), vals: vals.map((v) => v.trim()) }
  })
  return { cmd, args }
}

interface Fixture {
  run(line: string, input?: string): string
  nodes: FakeRawNode[]
  storages: FakeStorage[]
}

function fixture(): Fixture {
  const nodes: FakeRawNode[] = []
  const storages: FakeStorage[] = []
  const deps: Deps = {
    newRawNode: (config) => {
      const node = new FakeRawNode(config, () => nodes.map((n) => n.id))
      nodes.push(node)
      return node
    },
    newMemoryStorage: () => {
      const storage = new FakeStorage()
      storages.push(storage)
      return storage
    },
    describeReady: (rd) =>
      rd.messages.length === 0
        ? '<empty Ready>'
        : `Ready MustSync=false:\nMessages:\n${rd.messages.map(describeMessage).join('\n')}\n`,
    describeMessage,
    describeEntries: (entries) => entries.map((e) => `${e.term}/${e.index}\n`).join(''),
    describeProgressMap: () => '',
    confChangesFromString: () => [],
    decodeConfChange: () => assert.fail('unused'),
    decodeConfChangeV2: () => assert.fail('unused'),
    parseLine,
  }
  const handler = createInteractionHandler(deps)
  const run = (line: string, input = ''): string => {
    const { cmd, args } = parseLine(line)
    const d: Directive = { cmd, args, input, pos: 'test:1' }
    return handler(d)
  }
  return { run, nodes, storages }
}

describe('interaction harness', () => {
  it('creates nodes from the config stub, logging into the output', () => {
    const f = fixture()
    assert.equal(f.run('add-nodes 2'), 'INFO newRaft 1\nINFO newRaft 2\n')
    const config = f.nodes[1]?.config
    assert.equal(config?.id, 2n)
    assert.equal(config?.electionTick, 3)
    assert.equal(config?.heartbeatTick, 1)
    assert.equal(config?.maxSizePerMsg, Infinity)
    assert.equal(config?.maxInflightMsgs, 2 ** 31 - 1)
    assert.equal(config?.applied, 0)
    assert.deepEqual(f.storages[0]?.applied, [])
  })

  it('bootstraps nodes from a snapshot described by the arguments', () => {
    const f = fixture()
    const out = f.run(
      'add-nodes 2 voters=(1,2) learners=(3) index=10 prevote=true read-only=lease-based',
    )
    assert.equal(out, 'INFO newRaft 1\nINFO newRaft 2\n')
    const config = f.nodes[0]?.config
    assert.equal(config?.applied, 10)
    assert.equal(config?.preVote, true)
    assert.equal(config?.readOnlyOption, 1)
    const snap = f.storages[1]?.applied[0]
    assert.equal(snap?.metadata.index, 10)
    assert.equal(snap?.metadata.term, 1)
    assert.deepEqual(snap?.metadata.confState.voters, [1n, 2n])
    assert.deepEqual(snap?.metadata.confState.learners, [3n])
  })

  it('prints the errors Go returns and fails on malformed directives', () => {
    const f = fixture()
    assert.equal(
      f.run('add-nodes 1 voters=(1) index=1'),
      'index must be specified as > 1 due to bootstrap',
    )
    assert.equal(f.run('add-nodes 1 read-only=maybe'), 'invalid read-only option "maybe"')
    assert.equal(f.run('frobnicate'), 'unknown command')
    assert.throws(() => f.run('add-nodes x'), HarnessFatal)
    assert.throws(() => f.run('add-nodes 1 prevote=maybe'), HarnessFatal)
    assert.throws(() => f.run('deliver-msgs 1 drop=(1)'), HarnessFatal)
    assert.equal(f.run('add-nodes 1'), 'INFO newRaft 1\n')
    assert.equal(f.run('campaign 5'), 'node index 4 out of range [0, 1)')
  })

  it('proposes the bare key bytes, quotes included, and reports dropped proposals', () => {
    const f = fixture()
    f.run('add-nodes 1')
    assert.equal(f.run('propose 1 "foo"'), 'ok')
    assert.deepEqual(f.nodes[0]?.proposals[0], new Uint8Array([34, 102, 111, 111, 34]))
    assert.throws(() => f.run('propose 1 a=b'), HarnessFatal)
    const node = f.nodes[0]
    assert.ok(node !== undefined)
    node.dropProposals = true
    assert.equal(f.run('propose 1 bar'), 'raft proposal dropped')
  })

  it('indents per-node output under a header when several nodes are named', () => {
    const f = fixture()
    f.run('add-nodes 2')
    f.run('campaign 1')
    assert.equal(
      f.run('process-ready 1 2'),
      [
        '> 1 handling Ready',
        '  Ready MustSync=false:',
        '  Messages:',
        '  1->2 MsgVote',
        '> 2 handling Ready',
        '  <empty Ready>',
        '',
      ].join('\n'),
    )
    assert.equal(f.run('process-ready 2'), '<empty Ready>')
  })

  it('delivers, drops and filters queued messages', () => {
    const f = fixture()
    f.run('add-nodes 3')
    f.run('campaign 1')
    f.run('process-ready 1')
    assert.equal(f.run('deliver-msgs 2 type=MsgApp'), 'no messages\n')
    assert.equal(f.run('deliver-msgs 2 drop=(3)'), '1->2 MsgVote\ndropped: 1->3 MsgVote\n')
    assert.equal(f.run('deliver-msgs 3'), 'no messages\n')
    assert.throws(() => f.run('deliver-msgs type=MsgBogus'), HarnessFatal)
  })

  it('stabilizes until no node has work, in phases', () => {
    const f = fixture()
    f.run('add-nodes 2')
    f.run('campaign 1')
    assert.equal(
      f.run('stabilize'),
      [
        '> 1 handling Ready',
        '  Ready MustSync=false:',
        '  Messages:',
        '  1->2 MsgVote',
        '> 2 receiving messages',
        '  1->2 MsgVote',
        '> 2 handling Ready',
        '  Ready MustSync=false:',
        '  Messages:',
        '  2->1 MsgVoteResp',
        '> 1 receiving messages',
        '  2->1 MsgVoteResp',
        '',
      ].join('\n'),
    )
    assert.equal(f.run('stabilize'), 'ok')
  })

  it('filters log lines by level and silences everything but errors at NONE', () => {
    const f = fixture()
    f.run('add-nodes 2')
    assert.equal(f.run('campaign 1'), 'INFO 1 became candidate at term 1\nDEBUG 1 debug detail\n')
    assert.equal(f.run('log-level info'), 'ok')
    assert.equal(f.run('campaign 1'), 'INFO 1 became candidate at term 1\n')
    assert.equal(f.run('log-level WARN'), 'ok')
    assert.equal(f.run('campaign 1'), 'ok')
    assert.equal(f.run('log-level none'), 'ok')
    assert.equal(f.run('process-ready 1'), 'ok')
    assert.equal(f.run('raft-state'), 'ok')
    const node = f.nodes[0]
    assert.ok(node !== undefined)
    node.dropProposals = true
    assert.equal(f.run('propose 1 x'), 'raft proposal dropped')
    assert.equal(
      f.run('log-level loud'),
      'log levels must be either of [DEBUG INFO WARN ERROR FATAL NONE]',
    )
    assert.equal(f.run('log-level debug'), 'ok')
  })

  it('applies a stabilize log level to that directive only', () => {
    const f = fixture()
    f.run('add-nodes 2')
    f.run('log-level none')
    f.run('campaign 1')
    assert.match(f.run('stabilize log-level=info'), /^> 1 handling Ready\n/)
    f.run('campaign 1')
    assert.equal(f.run('stabilize'), 'ok')
  })

  it('prints step errors on their own line and keeps delivering', () => {
    const f = fixture()
    f.run('add-nodes 2')
    assert.equal(f.run('send-snapshot 2 1'), '2->1 MsgSnap\n  Snapshot: Index:0')
    f.run('campaign 2')
    f.run('process-ready 2')
    assert.equal(
      f.run('deliver-msgs 1'),
      '2->1 MsgSnap\n  Snapshot: Index:0\nraft: cannot step as peer not found\n2->1 MsgVote\n',
    )
  })

  it('prints raft state, logs, and runs extra command lines from the input', () => {
    const f = fixture()
    f.run('add-nodes 3 voters=(1,2,3) index=10')
    assert.equal(
      f.run('raft-state'),
      [
        '1: StateLeader (Voter) Term:1 Lead:1',
        '2: StateFollower (Voter) Term:1 Lead:1',
        '3: StateFollower (Non-Voter) Term:1 Lead:1',
        '',
      ].join('\n'),
    )
    assert.equal(f.run('raft-log 1'), 'log is empty: first index=11, last index=10')
    assert.equal(f.run('status 2'), 'ok')
    assert.equal(
      f.run('tick-election 2', 'tick-heartbeat 2\nbogus\ntick-heartbeat 2'),
      'unknown command',
    )
    assert.equal(f.nodes[1]?.ticks, 5)
    f.run('set-randomized-election-timeout 3 timeout=7')
    assert.equal(f.nodes[2]?.electionTimeout, 7)
    assert.throws(() => f.run('set-randomized-election-timeout 3'), HarnessFatal)
  })
})
