/**
 * How a node reaches its peers. The driver hands a transport the messages of each Ready and
 * never waits for it: a transport queues, batches and delivers on its own, and tells the node
 * what it could not deliver (etcd's rafthttp reports unreachable peers and snapshot outcomes the
 * same way). The peer transport over TCP comes with the server; LocalNetwork connects nodes in
 * one process (tests, the README's example).
 */
import { MessageType, SnapshotStatus, type Message, type NodeId } from '../raft/index.js'

export interface PeerHandler {
  /** A message from a peer, for the node to step. */
  receive(m: Message): void
  /** A message to `peer` could not be delivered: raft slows down its replication to it. */
  unreachable(peer: NodeId): void
  /** How the delivery of a MsgSnap to `peer` ended. */
  snapshotStatus(peer: NodeId, status: SnapshotStatus): void
}

export interface Transport {
  /** Starts handing what arrives for this node to `handler`. */
  start(handler: PeerHandler): void
  /**
   * Sends each message to its `to`. Never blocks and never throws for a peer's sake; the
   * messages are the transport's from now on.
   */
  send(messages: readonly Message[]): void
  /** Stops delivering in both directions. */
  stop(): void
}

/**
 * An in-process network: messages are delivered in a later microtask, in send order per pair of
 * nodes, unless the link is cut; a message that cannot be delivered is reported unreachable.
 */
export class LocalNetwork {
  private readonly handlers = new Map<NodeId, PeerHandler>()
  private readonly cut = new Set<string>()

  /** The transport of node `id`. */
  transport(id: NodeId): Transport {
    return {
      start: (handler) => void this.handlers.set(id, handler),
      send: (messages) => {
        for (const m of messages) queueMicrotask(() => this.deliver(id, m))
      },
      stop: () => void this.handlers.delete(id),
    }
  }

  /** Cuts (or restores) both directions between a and b. */
  setLink(a: NodeId, b: NodeId, up: boolean): void {
    for (const key of [`${a}>${b}`, `${b}>${a}`]) {
      if (up) this.cut.delete(key)
      else this.cut.add(key)
    }
  }

  /** Cuts `id` off from everyone (or reconnects it). */
  isolate(id: NodeId, isolated: boolean): void {
    for (const other of this.handlers.keys()) if (other !== id) this.setLink(id, other, !isolated)
  }

  private deliver(from: NodeId, m: Message): void {
    const sender = this.handlers.get(from)
    if (sender === undefined) return // the sender stopped: its messages die with it
    const to = this.handlers.get(m.to)
    const snap = m.type === MessageType.MsgSnap
    if (to === undefined || this.cut.has(`${from}>${m.to}`)) {
      if (snap) sender.snapshotStatus(m.to, SnapshotStatus.SnapshotFailure)
      sender.unreachable(m.to)
      return
    }
    to.receive(m)
    if (snap) sender.snapshotStatus(m.to, SnapshotStatus.SnapshotFinish)
  }
}
