/**
 * The Logger the core writes to. The core never formats for a console itself: the application
 * passes a Logger (pino in the server, a capturing logger in the conformance harness).
 *
 * Messages are preformatted strings in etcd-io/raft's exact wording; the conformance files compare
 * them byte for byte, so a call site's text and level are part of the behaviour.
 */

export interface Logger {
  debug(message: string): void
  info(message: string): void
  warn(message: string): void
  error(message: string): void
  /** Logs at FATAL; the caller then throws. */
  fatal(message: string): void
  /** Logs at FATAL and throws: an invariant of the core is broken. */
  panic(message: string): never
}

export enum LogLevel {
  Debug = 0,
  Info = 1,
  Warn = 2,
  Error = 3,
  Fatal = 4,
  None = 5,
}

/** A Logger that drops everything below `level` and hands the rest to `sink`. */
export class LevelLogger implements Logger {
  constructor(
    public level: LogLevel,
    private readonly sink: (level: LogLevel, message: string) => void,
  ) {}

  debug(message: string): void {
    if (this.level <= LogLevel.Debug) this.sink(LogLevel.Debug, message)
  }
  info(message: string): void {
    if (this.level <= LogLevel.Info) this.sink(LogLevel.Info, message)
  }
  warn(message: string): void {
    if (this.level <= LogLevel.Warn) this.sink(LogLevel.Warn, message)
  }
  error(message: string): void {
    if (this.level <= LogLevel.Error) this.sink(LogLevel.Error, message)
  }
  fatal(message: string): void {
    if (this.level <= LogLevel.Fatal) this.sink(LogLevel.Fatal, message)
  }
  panic(message: string): never {
    this.fatal(message)
    throw new Error(message)
  }
}

/** Discards everything but still throws on panic. */
export const discardLogger: Logger = new LevelLogger(LogLevel.None, () => {})
