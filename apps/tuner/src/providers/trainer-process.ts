import { spawn } from 'node:child_process'
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

/**
 * A training run of TRAINER_COMMAND as files in its output directory, so a restarted tuner (or
 * another replica on the same volume) can read it: `job.json` (what and who), `trainer.log`
 * (stdout + stderr), `exit_code` (written when the command ends), `cancelled` (we stopped it).
 * The command runs detached in its own process group: a tuner restart does not kill the training,
 * and a cancel kills the whole group (the trainer and anything it started).
 */
export interface TrainerRun {
  id: string
  fileId: string
  baseModel: string
  nEpochs: number
  outputDir: string
  pid: number
  /** Unix seconds. */
  createdAt: number
}

export type TrainerState =
  | { state: 'running' }
  | { state: 'exited'; code: number }
  | { state: 'cancelled' }
  | { state: 'vanished' }

const q = (v: string) => `'${v.replace(/'/g, `'\\''`)}'`

/** TRAINER_COMMAND with `{train_file}`, `{base_model}`, `{output_dir}`, `{epochs}` shell-quoted in. */
export function renderTrainerCommand(
  template: string,
  v: { trainFile: string; baseModel: string; outputDir: string; epochs: number },
): string {
  const values: Record<string, string> = {
    train_file: v.trainFile,
    base_model: v.baseModel,
    output_dir: v.outputDir,
    epochs: String(v.epochs),
  }
  return template.replace(/\{(train_file|base_model|output_dir|epochs)\}/g, (_, k: string) =>
    q(values[k] as string),
  )
}

export function startTrainer(opts: {
  template: string
  run: Omit<TrainerRun, 'pid' | 'createdAt'>
  trainFile: string
  cwd: string
}): TrainerRun {
  const { run } = opts
  mkdirSync(run.outputDir, { recursive: true })
  const cmd = renderTrainerCommand(opts.template, {
    trainFile: opts.trainFile,
    baseModel: run.baseModel,
    outputDir: run.outputDir,
    epochs: run.nEpochs,
  })
  const log = q(join(run.outputDir, 'trainer.log'))
  const exit = q(join(run.outputDir, 'exit_code'))
  // The shell records the exit code even when this tuner is gone by then.
  const child = spawn('sh', ['-c', `( ${cmd} ) >> ${log} 2>&1; echo $? > ${exit}`], {
    cwd: opts.cwd,
    detached: true,
    stdio: 'ignore',
  })
  child.unref()
  const full: TrainerRun = { ...run, pid: child.pid ?? -1, createdAt: Math.floor(Date.now() / 1000) }
  writeFileSync(join(run.outputDir, 'job.json'), JSON.stringify(full))
  return full
}

export function readRun(outputDir: string): TrainerRun | null {
  try {
    return JSON.parse(readFileSync(join(outputDir, 'job.json'), 'utf8')) as TrainerRun
  } catch {
    return null
  }
}

/** Every run under `root` (one directory per job). */
export function listRuns(root: string): TrainerRun[] {
  if (!existsSync(root)) return []
  return readdirSync(root)
    .map((d) => readRun(join(root, d)))
    .filter((r): r is TrainerRun => r !== null)
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

export function trainerState(run: TrainerRun): TrainerState {
  if (existsSync(join(run.outputDir, 'cancelled'))) return { state: 'cancelled' }
  const exitFile = join(run.outputDir, 'exit_code')
  if (existsSync(exitFile)) {
    const text = readFileSync(exitFile, 'utf8').trim()
    // Written but not flushed yet: still finishing.
    if (text !== '') return { state: 'exited', code: Number(text) }
  }
  if (run.pid > 0 && alive(run.pid)) return { state: 'running' }
  // Re-check: the shell may have written the code between the two reads.
  if (existsSync(exitFile) && readFileSync(exitFile, 'utf8').trim() !== '')
    return { state: 'exited', code: Number(readFileSync(exitFile, 'utf8').trim()) }
  return { state: 'vanished' }
}

/** The last `max` lines of the trainer's stdout/stderr. */
export function trainerLog(run: TrainerRun, max = 200): string[] {
  try {
    const lines = readFileSync(join(run.outputDir, 'trainer.log'), 'utf8').split('\n')
    return lines.filter((l) => l.trim() !== '').slice(-max)
  } catch {
    return []
  }
}

/** Kills the trainer's process group (SIGTERM, then SIGKILL after `graceMs`) and marks it cancelled. */
export function killTrainer(run: TrainerRun, graceMs = 5000): void {
  writeFileSync(join(run.outputDir, 'cancelled'), new Date().toISOString())
  if (run.pid <= 0) return
  try {
    process.kill(-run.pid, 'SIGTERM')
  } catch {
    return // already gone
  }
  const t = setTimeout(() => {
    try {
      process.kill(-run.pid, 'SIGKILL')
    } catch {}
  }, graceMs)
  t.unref()
}
