/**
 * Membership changes: applying simple and joint conf changes to a copy of the tracked
 * configuration (Changer), and rebuilding a configuration from a ConfState (restore).
 */

export { Changer, describeChanges } from './confchange.js'
export type { ConfChangeResult, TrackerState } from './confchange.js'
export { restore, toConfChangeSingle } from './restore.js'
