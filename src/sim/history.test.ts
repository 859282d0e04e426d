// Goal: the history parser accepts the documented format and rejects every malformed line with a
// typed error naming the line. Method: one well-formed file, then one table row per error case.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { HistoryError, HistoryRecorder, parseHistory, type HistoryErrorCode } from './history.js'

const GOOD = [
  '{"process":0,"type":"invoke","f":"put","key":"k","value":1,"time":0,"index":7}',
  '',
  '{"process":1,"type":"invoke","f":"get","key":"k","time":1}',
  '{"process":0,"type":"ok","f":"put","key":"k","time":2,"index":7}',
  '{"process":1,"type":"ok","f":"get","key":"k","value":null,"time":2}',
  '{"process":1,"type":"invoke","f":"cas","key":"k","expected":1,"value":"two","time":3}',
  '{"process":1,"type":"fail","f":"cas","key":"k","error":"mismatch","time":4}',
  '{"process":2,"type":"invoke","f":"put","key":"j","value":5,"time":5}',
  '{"process":2,"type":"info","f":"put","key":"j","time":9}',
  '{"process":2,"type":"invoke","f":"get","key":"j","time":9}',
  '  ',
].join('\n')

test('a well-formed history pairs invocations with completions', () => {
  const ops = parseHistory(GOOD)
  assert.equal(ops.length, 5)
  const [put, get, cas, lost, open] = ops
  assert.deepEqual(
    [put!.outcome, put!.value, put!.callLine, put!.returnLine, put!.index],
    ['ok', 1, 1, 4, 7],
  )
  assert.deepEqual([get!.outcome, get!.value, get!.callAt, get!.returnAt], ['ok', null, 1, 3])
  assert.deepEqual([cas!.outcome, cas!.expected, cas!.value], ['mismatch', 1, 'two'])
  assert.deepEqual([lost!.outcome, lost!.returnAt, lost!.returnTime], ['info', Infinity, 9])
  assert.deepEqual([open!.outcome, open!.returnLine], ['info', 0])
})

test('the recorder writes what the parser reads', () => {
  const h = new HistoryRecorder()
  h.invoke(0, 'cas', 'a', 1, 2, null)
  h.invoke(1, 'get', 'a', 1)
  h.complete(0, 'ok', 3)
  h.complete(1, 'ok', 4, { value: 2 })
  h.invoke(1, 'put', 'a', 5, 'x')
  h.finish(6)
  h.finish(7) // nothing left open: no second completion
  const ops = parseHistory(h.toJsonl())
  assert.deepEqual(
    ops.map((o) => [o.f, o.outcome, o.value, o.returnTime]),
    [
      ['cas', 'ok', 2, 3],
      ['get', 'ok', 2, 4],
      ['put', 'info', 'x', 6],
    ],
  )
  assert.match(h.toJsonl(), /^\{"process":0,"type":"invoke","f":"cas","key":"a","value":2,/)
})

const inv = '{"process":0,"type":"invoke","f":"put","key":"k","value":1,"time":5}'
const BAD: [string, string[], HistoryErrorCode, number, RegExp][] = [
  ['not JSON', [inv, '{"process":0,'], 'BAD_JSON', 2, /not JSON/],
  ['an array', ['[1]'], 'BAD_FIELD', 1, /JSON object/],
  [
    'unknown field',
    ['{"process":0,"type":"invoke","f":"get","key":"k","time":0,"x":1}'],
    'BAD_FIELD',
    1,
    /unknown field "x"/,
  ],
  [
    'negative process',
    ['{"process":-1,"type":"invoke","f":"get","key":"k","time":0}'],
    'BAD_FIELD',
    1,
    /"process"/,
  ],
  [
    'unknown type',
    ['{"process":0,"type":"done","f":"get","key":"k","time":0}'],
    'BAD_FIELD',
    1,
    /"type"/,
  ],
  [
    'unknown f',
    ['{"process":0,"type":"invoke","f":"del","key":"k","time":0}'],
    'BAD_FIELD',
    1,
    /"f"/,
  ],
  [
    'numeric key',
    ['{"process":0,"type":"invoke","f":"get","key":3,"time":0}'],
    'BAD_FIELD',
    1,
    /"key"/,
  ],
  ['missing time', ['{"process":0,"type":"invoke","f":"get","key":"k"}'], 'BAD_FIELD', 1, /"time"/],
  [
    'object value',
    ['{"process":0,"type":"invoke","f":"put","key":"k","value":{},"time":0}'],
    'BAD_FIELD',
    1,
    /"value"/,
  ],
  [
    'delete with value',
    ['{"process":0,"type":"invoke","f":"delete","key":"k","value":1,"time":0}'],
    'BAD_FIELD',
    1,
    /delete invocation has no "value"/,
  ],
  [
    'put without value',
    ['{"process":0,"type":"invoke","f":"put","key":"k","time":0}'],
    'BAD_FIELD',
    1,
    /needs "value"/,
  ],
  [
    'cas without expected',
    ['{"process":0,"type":"invoke","f":"cas","key":"k","value":1,"time":0}'],
    'BAD_FIELD',
    1,
    /"expected"/,
  ],
  [
    'get ok without value',
    [
      '{"process":0,"type":"invoke","f":"get","key":"k","time":0}',
      '{"process":0,"type":"ok","f":"get","key":"k","time":1}',
    ],
    'BAD_FIELD',
    2,
    /needs the "value"/,
  ],
  [
    'completion never invoked',
    ['{"process":3,"type":"ok","f":"put","key":"k","time":1}'],
    'BAD_ORDER',
    1,
    /never invoked/,
  ],
  ['two open ops', [inv, inv], 'BAD_ORDER', 2, /while its op of line 2 is open/],
  [
    'completion of another op',
    [inv, '{"process":0,"type":"ok","f":"put","key":"j","time":6}'],
    'BAD_ORDER',
    2,
    /does not match/,
  ],
  [
    'time going back',
    [inv, '{"process":0,"type":"ok","f":"put","key":"k","time":4}'],
    'BAD_ORDER',
    2,
    /before the previous/,
  ],
  [
    'index mismatch',
    [
      '{"process":0,"type":"invoke","f":"get","key":"k","time":0,"index":1}',
      '{"process":0,"type":"ok","f":"get","key":"k","value":1,"time":1,"index":2}',
    ],
    'BAD_ORDER',
    2,
    /index 2/,
  ],
]

test('malformed histories are rejected with the line number', () => {
  for (const [name, lines, code, line, message] of BAD) {
    // A blank first line checks that line numbers count every line of the file.
    const text = '\n' + lines.join('\n')
    assert.throws(
      () => parseHistory(text),
      (e: unknown) =>
        e instanceof HistoryError &&
        e.code === code &&
        e.line === line + 1 &&
        e.message.startsWith(`line ${line + 1}: `) &&
        message.test(e.message),
      name,
    )
  }
})
