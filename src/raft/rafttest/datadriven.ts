/**
 * A reader and runner for cockroachdb/datadriven test files, the format of etcd-io/raft's
 * testdata. Pure: the caller reads and writes files.
 *
 * A file is a sequence of directives:
 *
 *   # a comment
 *   cmd arg key=val key=(a, b)
 *   optional input lines
 *   ----
 *   expected output, up to the first blank line
 *
 * Output that itself contains blank lines sits between `----`/`----` pairs instead. Directive
 * lines may continue onto the next line with a trailing backslash. Values keep their quotes.
 *
 * runDataDriven re-emits the file with each expected output replaced by the handler's actual
 * output, exactly as the Go library's -rewrite mode does; when every output matches, the result
 * equals the input byte for byte.
 */

export interface CmdArg {
  key: string
  /** Empty for a bare key; one element for `key=val`; one per item for `key=(a, b)`. */
  vals: string[]
}

export interface Directive {
  cmd: string
  args: CmdArg[]
  /** The lines between the directive line and `----`, trimmed. */
  input: string
  /** The expected output as written in the file (each line ends in a newline). */
  expected: string
  /** `source:line` of the directive line. */
  pos: string
}

/** Runs one directive and returns its actual output. Throwing aborts the file. */
export type Handler = (d: Directive) => string

/**
 * Splits a directive line into command and arguments (datadriven's ParseLine): `key`,
 * `key=val`, `key=` (one empty value) and `key=(v1, v2)` with nested parentheses allowed inside
 * values. Throws on a malformed line.
 */
export function parseLine(line: string): { cmd: string; args: CmdArg[] } {
  const orig = line.trim()
  let rest = orig
  const fail = (): never => {
    const column = orig.length - rest.length + 1
    throw new Error(`cannot parse directive at column ${column}: ${orig}`)
  }
  // Removes and returns the prefix of `rest` up to the first of `chars`.
  const until = (chars: string): string => {
    let i = 0
    while (i < rest.length && !chars.includes(rest[i] as string)) i++
    const prefix = rest.slice(0, i)
    rest = rest.slice(i)
    return prefix
  }
  const cmd = until(' ')
  if (cmd === '') fail()
  rest = rest.trim()
  const args: CmdArg[] = []
  while (rest !== '') {
    const key = until(' =')
    if (key === '') fail()
    const arg: CmdArg = { key, vals: [] }
    if (rest.startsWith('=')) {
      rest = rest.slice(1)
      if (rest === '' || rest.startsWith(' ')) arg.vals = ['']
      else if (!rest.startsWith('(')) arg.vals = [until(' ')]
      else {
        const list = parseList(rest.slice(1), fail)
        arg.vals = list.vals
        rest = list.rest
      }
    }
    args.push(arg)
    rest = rest.trim()
  }
  return { cmd, args }
}

/**
 * Parses `v1, v2, ...)` (the opening parenthesis already consumed), honouring nested
 * parentheses inside values. Returns the values and what follows the closing parenthesis.
 */
function parseList(text: string, fail: () => never): { vals: string[]; rest: string } {
  const vals: string[] = []
  let rest = text
  for (let done = false; !done;) {
    const runes = Array.from(rest)
    let pos = 0
    // Advances past the ')' that closes a '(' just consumed.
    const skipNested = (): void => {
      while (pos < runes.length) {
        const c = runes[pos++]
        if (c === ')') return
        if (c === '(') skipNested()
      }
      fail()
    }
    while (pos < runes.length && runes[pos] !== ')' && runes[pos] !== ',') {
      if (runes[pos++] === '(') skipNested()
    }
    if (pos === runes.length) fail()
    done = runes[pos] === ')'
    vals.push(runes.slice(0, pos).join(''))
    rest = runes
      .slice(pos + 1)
      .join('')
      .trim()
  }
  return { vals, rest }
}

/** Lines as Go's bufio.Scanner yields them: split on \n, a trailing \r dropped. */
class LineScanner {
  private readonly lines: string[]
  /** 1-based number of the line last returned. */
  line = 0

  constructor(text: string) {
    this.lines = text.split('\n')
    // A final newline ends the last line; it does not start an empty one.
    if (this.lines[this.lines.length - 1] === '') this.lines.pop()
  }

  /** The next line, or undefined at the end. */
  scan(): string | undefined {
    const line = this.lines[this.line]
    if (line === undefined) return undefined
    this.line++
    return line.endsWith('\r') ? line.slice(0, -1) : line
  }
}

/**
 * Reads directives and, like the Go library, echoes every line it consumes except the
 * separator and the expected output, which the runner re-emits with the actual output.
 */
class Reader {
  private readonly scanner: LineScanner
  readonly out: string[] = []

  constructor(
    text: string,
    private readonly source: string,
  ) {
    this.scanner = new LineScanner(text)
  }

  emit(s: string): void {
    this.out.push(s, '\n')
  }

  /** The next directive, or undefined at the end of the file. */
  next(): Directive | undefined {
    for (let raw = this.scanner.scan(); raw !== undefined; raw = this.scanner.scan()) {
      this.emit(raw)
      const pos = `${this.source}:${this.scanner.line}`
      let line = raw.trim()
      if (line.startsWith('#')) continue
      for (let cont: string | undefined; line.endsWith('\\');) {
        cont = this.scanner.scan()
        if (cont === undefined) break
        this.emit(cont)
        line = line.slice(0, -1) + ' ' + cont.trim()
      }
      if (line === '') continue
      const { cmd, args } = parseLineAt(line, pos)
      if (cmd === 'subtest') throw new Error(`${pos}: subtest directives are not supported`)
      let input = ''
      let separator = false
      for (let l = this.scanner.scan(); l !== undefined; l = this.scanner.scan()) {
        if (l === '----') {
          separator = true
          break
        }
        this.emit(l)
        input += l + '\n'
      }
      const expected = separator ? this.readExpected(pos) : ''
      return { cmd, args, input: input.trim(), expected, pos }
    }
    return undefined
  }

  /** Reads the expected output after `----`: up to a blank line, or a `----`/`----` block. */
  private readExpected(pos: string): string {
    let line = this.scanner.scan()
    let expected = ''
    if (line === '----') {
      for (line = this.scanner.scan(); line !== undefined; line = this.scanner.scan()) {
        if (line === '----') {
          const line2 = this.scanner.scan()
          if (line2 === '----') {
            // The blank line after the block is consumed too; the rewrite re-emits it.
            const after = this.scanner.scan()
            if (after !== undefined && after !== '') {
              throw new Error(`${pos}: non-blank line after end of double ---- separator section`)
            }
            break
          }
          if (line2 !== undefined) {
            expected += line + '\n' + line2 + '\n'
            continue
          }
        }
        expected += line + '\n'
      }
      return expected
    }
    for (; line !== undefined && line.trim() !== ''; line = this.scanner.scan()) {
      expected += line + '\n'
    }
    return expected
  }
}

function parseLineAt(line: string, pos: string): { cmd: string; args: CmdArg[] } {
  try {
    return parseLine(line)
  } catch (err) {
    throw new Error(`${pos}: ${(err as Error).message}`)
  }
}

/** Every directive of a file, in order. */
export function parseDataDriven(text: string, source = '<string>'): Directive[] {
  const reader = new Reader(text, source)
  const directives: Directive[] = []
  for (let d = reader.next(); d !== undefined; d = reader.next()) directives.push(d)
  return directives
}

/** A handler's output as the file records it: `ok` when empty, always ending in a newline. */
export function normalizeOutput(actual: string): string {
  if (actual === '') return 'ok\n'
  return actual.endsWith('\n') ? actual : actual + '\n'
}

/** True if some line of `s` is empty or only spaces and tabs. */
function hasBlankLine(s: string): boolean {
  return /^[\t ]*\n/m.test(s)
}

/**
 * Runs every directive of `text` through `handler` and returns the file rewritten with the
 * actual outputs. A handler that throws aborts the run (the error names the directive).
 */
export function runDataDriven(text: string, handler: Handler, source = '<string>'): string {
  const reader = new Reader(text, source)
  for (let d = reader.next(); d !== undefined; d = reader.next()) {
    let actual: string
    try {
      actual = normalizeOutput(handler(d))
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err)
      throw new Error(`${d.pos}: ${d.cmd}: ${message}`, { cause: err })
    }
    reader.emit('----')
    if (hasBlankLine(actual)) {
      reader.emit('----')
      reader.out.push(actual)
      reader.emit('----')
      reader.emit('----')
      reader.emit('')
    } else {
      // `actual` ends in a newline, so this also writes the blank line that ends the block.
      reader.emit(actual)
    }
  }
  let out = reader.out.join('')
  // Like the Go library, drop one trailing blank line.
  if (out.length > 2 && out.endsWith('\n\n')) out = out.slice(0, -1)
  return out
}

/** The values of the first argument named `key`, or undefined if absent. */
export function argVals(d: Directive, key: string): string[] | undefined {
  return d.args.find((a) => a.key === key)?.vals
}

/** Go's strconv.ParseBool: 1 t T TRUE true True, 0 f F FALSE false False. */
export function parseGoBool(s: string): boolean {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(s)) return true
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(s)) return false
  throw new Error(`strconv.ParseBool: parsing ${JSON.stringify(s)}: invalid syntax`)
}

const maxUint64 = 0xffff_ffff_ffff_ffffn

/** Go's strconv.ParseUint(s, 10, 64), with its error texts. */
export function parseGoUint64(s: string): bigint {
  if (!/^[0-9]+$/.test(s)) {
    throw new Error(`strconv.ParseUint: parsing ${JSON.stringify(s)}: invalid syntax`)
  }
  const n = BigInt(s)
  if (n > maxUint64) {
    throw new Error(`strconv.ParseUint: parsing ${JSON.stringify(s)}: value out of range`)
  }
  return n
}
