/**
 * The interaction harness's output buffer, which is also the Logger every node writes to: raft's
 * log lines and the harness's own output interleave in program order, as in etcd-io/raft's
 * rafttest RedirectLogger.
 */

import { LogLevel, type Logger } from '../logger.js'

/** The names a `log-level` directive accepts (case-insensitively), indexed by LogLevel. */
export const levelNames: readonly string[] = ['DEBUG', 'INFO', 'WARN', 'ERROR', 'FATAL', 'NONE']

export class RedirectLogger implements Logger {
  /** Lines below this level are dropped; at None every write is dropped, harness output too. */
  level: LogLevel = LogLevel.Debug
  private text = ''

  /** True at level None, where even the harness's own output is silenced (errors are not). */
  quiet(): boolean {
    return this.level === LogLevel.None
  }

  write(s: string): void {
    if (!this.quiet()) this.text += s
  }

  /** Appends even when quiet: used to re-emit text that already passed the quiet filter. */
  writeUnfiltered(s: string): void {
    this.text += s
  }

  reset(): void {
    this.text = ''
  }

  /** Replaces the buffer's contents, returning what it held (how withIndent captures output). */
  swap(text: string): string {
    const old = this.text
    this.text = text
    return old
  }

  get length(): number {
    return this.text.length
  }

  toString(): string {
    return this.text
  }

  debug(message: string): void {
    this.log(LogLevel.Debug, message)
  }
  info(message: string): void {
    this.log(LogLevel.Info, message)
  }
  warn(message: string): void {
    this.log(LogLevel.Warn, message)
  }
  error(message: string): void {
    this.log(LogLevel.Error, message)
  }
  fatal(message: string): void {
    this.log(LogLevel.Fatal, message)
  }
  panic(message: string): never {
    this.log(LogLevel.Fatal, message)
    throw new Error(message)
  }

  // Go's printf adds the newline only when the format lacks one, and none for an empty format.
  private log(level: LogLevel, message: string): void {
    if (this.level > level) return
    this.write(`${levelNames[level]} ${message}`)
    if (message.length > 0 && !message.endsWith('\n')) this.write('\n')
  }
}
