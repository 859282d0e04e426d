/**
 * Runs the simulator with a planted bug (src/sim/plants.ts): copies the compiled library
 * (dist/src, without tests, maps and declarations) to a temporary directory, makes the plant's
 * substitutions there, and runs that copy's sim CLI in a child process. The build in dist/ and
 * the sources are never touched; the copy is removed afterwards.
 */
import { spawn } from 'node:child_process'
import { cpSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { applyEdit, type Plant } from './plants.js'

/** The repository root: this file runs as dist/src/sim/plant-runner.js. */
const ROOT = fileURLToPath(new URL('../../..', import.meta.url))

export interface PlantedCopy {
  /** The planted copy's sim CLI. */
  simJs: string
  remove(): void
}

/** A planted copy of dist/src; throws a PlantError (and leaves nothing) when an edit misses. */
export function plantedCopy(plant: Plant): PlantedCopy {
  const dir = mkdtempSync(join(tmpdir(), `pontoon-plant-${plant.name}-`))
  const remove = (): void => rmSync(dir, { recursive: true, force: true })
  try {
    // ES modules, and the dependencies the library imports (@node-rs/crc32) from our install.
    writeFileSync(join(dir, 'package.json'), '{ "type": "module", "private": true }\n')
    symlinkSync(join(ROOT, 'node_modules'), join(dir, 'node_modules'), 'dir')
    cpSync(join(ROOT, 'dist', 'src'), join(dir, 'dist', 'src'), {
      recursive: true,
      filter: (src) => !/(\.test\.js|\.d\.ts|\.map)$/.test(src),
    })
    for (const edit of plant.edits) {
      const file = join(dir, 'dist', edit.file)
      writeFileSync(file, applyEdit(plant, edit, readFileSync(file, 'utf8')))
    }
  } catch (err) {
    remove()
    throw err
  }
  return { simJs: join(dir, 'dist', 'src', 'sim', 'cli.js'), remove }
}

/** The sim CLI arguments that switch off the checkers the plant asks to, and choose its machine. */
export function plantArgs(plant: Plant): string[] {
  const args =
    plant.checksOff === undefined || plant.checksOff.length === 0
      ? []
      : [`--no-check=${plant.checksOff.join(',')}`]
  if (plant.machine !== undefined) args.push(`--machine=${plant.machine}`)
  return args
}

export interface PlantRun {
  /** The child's exit status (1: a seed failed), or null when it was killed. */
  status: number | null
  /** Its standard output and error, when captured. */
  stdout: string
  stderr: string
}

/**
 * Runs the planted copy's sim CLI with `args` (plus the plant's own), printing its output
 * (`capture` false) or collecting it; the copy is removed once the child exits.
 */
export function runPlanted(
  plant: Plant,
  args: readonly string[],
  { capture = false, timeoutMs = 0 }: { capture?: boolean; timeoutMs?: number } = {},
): Promise<PlantRun> {
  const copy = plantedCopy(plant)
  return new Promise<PlantRun>((resolve, reject) => {
    const child = spawn(process.execPath, [copy.simJs, ...args, ...plantArgs(plant)], {
      stdio: capture ? ['ignore', 'pipe', 'pipe'] : 'inherit',
      timeout: timeoutMs > 0 ? timeoutMs : undefined,
    })
    let stdout = ''
    let stderr = ''
    child.stdout?.setEncoding('utf8').on('data', (s: string) => (stdout += s))
    child.stderr?.setEncoding('utf8').on('data', (s: string) => (stderr += s))
    child.on('error', (err) => {
      copy.remove()
      reject(err)
    })
    child.on('close', (status) => {
      copy.remove()
      resolve({ status, stdout, stderr })
    })
  })
}
