// Lint rules. The pure core additionally may not read the clock or draw randomness (STYLE.md §1):
// time arrives as tick() and randomness through the injected Rand.
import js from '@eslint/js'
import tseslint from 'typescript-eslint'

// The walls between layers (ARCHITECTURE.md). Each layer's tsconfig.json references only the
// layers it may import, so tsc refuses an import in the wrong direction; these rules add what tsc
// cannot see: across a wall, only a layer's public surface (its index.js), and nothing outside
// src/sim, bench and the tests imports the simulator.
const layers = ['raft', 'io', 'snap', 'wal', 'node', 'mvcc', 'sim']
const publicSurfaceOnly = (self) =>
  layers
    .filter((l) => l !== self)
    .map((l) => ({
      group: [`../${l}/**`, `!../${l}/index.js`],
      message: `import src/${l} through its public surface, ../${l}/index.js.`,
    }))
const wallRules = (self) => ({
  files: [`src/${self}/**/*.ts`],
  rules: {
    'no-restricted-imports': [
      'error',
      {
        patterns: [
          ...publicSurfaceOnly(self),
          ...(self === 'sim'
            ? []
            : [
                {
                  group: ['**/sim/**'],
                  message: 'only src/sim, bench and tests import the simulator.',
                },
              ]),
        ],
      },
    ],
  },
})

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/consistent-type-imports': 'error',
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_' },
      ],
      'no-constant-condition': ['error', { checkLoops: false }],
    },
  },
  {
    // One seeded source of randomness for the whole suite (test-support/seed.ts), so TEST_SEED replays.
    files: ['**/*.test.ts'],
    rules: {
      'no-restricted-properties': [
        'error',
        {
          object: 'Math',
          property: 'random',
          message:
            'tests draw randomness from test-support/seed.ts (testRand), so TEST_SEED replays them.',
        },
      ],
      'no-restricted-syntax': [
        'error',
        {
          selector:
            "CallExpression[callee.object.name='fc'][callee.property.name=/^(assert|check|sample)$/][arguments.length<2]",
          message: 'give fast-check a seed: fcParams(t, ...) from test-support/seed.ts.',
        },
      ],
    },
  },
  ...['io', 'snap', 'wal', 'node', 'mvcc', 'sim'].map(wallRules),
  {
    files: ['src/raft/**/*.ts', 'src/cli/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['**/sim/**'],
              message: 'only src/sim, bench and tests import the simulator.',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['src/raft/**/*.ts'],
    ignores: ['src/raft/**/*.test.ts'],
    rules: {
      'no-restricted-globals': [
        'error',
        { name: 'Date', message: 'src/raft reads no clock: time arrives as tick().' },
        { name: 'setTimeout', message: 'src/raft does no I/O and has no timers.' },
        { name: 'setInterval', message: 'src/raft does no I/O and has no timers.' },
        { name: 'console', message: 'src/raft logs through the injected Logger.' },
        { name: 'process', message: 'src/raft does no I/O.' },
      ],
      'no-restricted-properties': [
        'error',
        {
          object: 'Math',
          property: 'random',
          message: 'src/raft draws randomness only from the injected Rand.',
        },
      ],
    },
  },
)
