// Goal: the datadriven reader parses directives exactly as cockroachdb/datadriven does, and a
// rewrite with unchanged outputs reproduces every upstream test file byte for byte. Method: unit
// cases for the parser and output rules, then an identity handler over ../shared.

import assert from 'node:assert/strict'
import { existsSync, readFileSync, readdirSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { test } from 'node:test'
import { parseDataDriven, parseGoUint64, parseLine, runDataDriven } from './datadriven.js'

const conformanceDir = fileURLToPath(
  new URL('../../../../../shared/conformance/etcd-raft/', import.meta.url),
)

test('parseLine splits keys, values and lists', () => {
  assert.deepEqual(parseLine('committed cfg=(1, 2) idx=(12,_) bare k= q="a b"'), {
    cmd: 'committed',
    args: [
      { key: 'cfg', vals: ['1', '2'] },
      { key: 'idx', vals: ['12', '_'] },
      { key: 'bare', vals: [] },
      { key: 'k', vals: [''] },
      { key: 'q', vals: ['"a'] },
      { key: 'b"', vals: [] },
    ],
  })
  assert.deepEqual(parseLine('cmd exprs=(a + (b + c), d + f)').args, [
    { key: 'exprs', vals: ['a + (b + c)', 'd + f'] },
  ])
  assert.throws(() => parseLine('cmd k=(1,2'), /cannot parse directive/)
})

test('directives, comments, input and blank-line output blocks', () => {
  const text = [
    '# comment',
    '',
    'simple',
    'v1 v2',
    '----',
    'out1',
    'out2',
    '',
    'multi \\',
    '  k=v',
    '----',
    '----',
    'a',
    '',
    'b',
    '----',
    '----',
    '',
    'last',
    '----',
    'x',
  ].join('\n')
  const ds = parseDataDriven(text, 'f')
  assert.deepEqual(
    ds.map((d) => [d.cmd, d.args, d.input, d.expected, d.pos]),
    [
      ['simple', [], 'v1 v2', 'out1\nout2\n', 'f:3'],
      ['multi', [{ key: 'k', vals: ['v'] }], '', 'a\n\nb\n', 'f:9'],
      ['last', [], '', 'x\n', 'f:19'],
    ],
  )
  // Returning the expected outputs reproduces the file.
  assert.equal(
    runDataDriven(text + '\n', (d) => d.expected),
    text + '\n',
  )
})

test('output rules: forced newline, empty becomes ok, rewritten outputs', () => {
  const text = 'a\n----\nold\n\nb\n----\nold\n'
  const outputs = new Map([
    ['a', ''],
    ['b', 'two\n\nparts'],
  ])
  assert.equal(
    runDataDriven(text, (d) => outputs.get(d.cmd) ?? ''),
    'a\n----\nok\n\nb\n----\n----\ntwo\n\nparts\n----\n----\n',
  )
  assert.throws(
    () =>
      runDataDriven(text, () => {
        throw new Error('boom')
      }),
    /<string>:1: a: boom/,
  )
})

test('parseGoUint64 mirrors strconv.ParseUint', () => {
  assert.equal(parseGoUint64('18446744073709551615'), 0xffff_ffff_ffff_ffffn)
  assert.throws(() => parseGoUint64('18446744073709551616'), /value out of range/)
  assert.throws(() => parseGoUint64('x1'), /parsing "x1": invalid syntax/)
})

test('every upstream file round-trips through an identity rewrite', (t) => {
  if (!existsSync(conformanceDir)) {
    t.skip(`${conformanceDir} absent`)
    return
  }
  for (const dir of ['quorum', 'confchange', 'interaction']) {
    for (const name of readdirSync(conformanceDir + dir).filter((n) => n.endsWith('.txt'))) {
      const text = readFileSync(`${conformanceDir}${dir}/${name}`, 'utf8')
      assert.equal(
        runDataDriven(text, (d) => d.expected),
        text,
        `${dir}/${name}`,
      )
    }
  }
})
