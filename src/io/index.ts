/**
 * @module pontoon/io
 *
 * The only code that touches the OS, and its simulated twins: the Disk the WAL and snapshots
 * write through (NodeDisk over node:fs, SimDisk in memory with power loss), the Clock the node
 * driver ticks by (systemClock over timers, ManualClock advanced by hand), and the Net the peer
 * transport connects and listens through (tcpNet over node:net).
 */
export {
  dirName,
  joinPath,
  mkdirDurable,
  readAt,
  type Disk,
  type DiskFile,
  type PreallocateOptions,
} from './disk.js'
export { NodeDisk, type NodeDiskOptions, type Preallocation } from './node-disk.js'
export { PAGE_BYTES, SECTOR_BYTES, SimDisk, type IntRand, type SimDiskStats } from './sim-disk.js'
export { ManualClock, systemClock, type Clock } from './clock.js'
export { tcpNet, type Net, type NetAddress, type NetServer, type NetSocket } from './net.js'
