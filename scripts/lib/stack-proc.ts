import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtempSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ROOT } from './cli.js'

/** Pids in process group `pgid` whose command line matches `pattern` (pgrep). */
export function pidsOf(pgid: number, pattern: string): Promise<number[]> {
  return new Promise((resolve) => {
    const ps = spawn('pgrep', ['-g', String(pgid), '-f', pattern])
    let out = ''
    ps.stdout.on('data', (d) => {
      out += d
    })
    ps.on('exit', () => resolve(out.split('\n').filter(Boolean).map(Number)))
  })
}

export interface StackProc {
  child: ChildProcess
  /** The process group (the supervisor's pid): what a terminal's Ctrl-C reaches. */
  pgid: number
  /** Gateway port; the embedded db listens on port + 1, openai-local on port + 2. */
  port: number
  dir: string
  /** Everything the supervisor printed so far (stdout + stderr). */
  output(): string
}

/** Whether 127.0.0.1:`port` can be listened on right now. */
function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = createServer()
    srv.once('error', () => resolve(false))
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)))
  })
}

/**
 * The first of `count` consecutive ports that are free on 127.0.0.1. Chosen below Linux's
 * ephemeral range (32768–60999), where outgoing connections and port-0 listeners of other tests
 * take their ports, so a port found free stays free until the stack binds it.
 */
export async function freePortRun(count: number): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 15000 + Math.floor(Math.random() * 17000)
    let ok = true
    for (let i = 0; i < count && ok; i++) ok = await canListen(base + i)
    if (ok) return base
  }
  throw new Error(`no ${count} consecutive free ports found between 15000 and 32767`)
}

/**
 * `npm start` (scripts/start.ts) in its own process group on free ports and a fresh temp dir,
 * with no DATABASE_URL, ADMIN_TOKEN or provider settings from the caller's environment unless
 * `env` sets them.
 */
export async function spawnStack(
  env: Record<string, string | undefined> = {},
  prefix = 'loopdm-start-',
): Promise<StackProc> {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  const port = await freePortRun(3)
  const full: Record<string, string | undefined> = {
    ...process.env,
    PORT: String(port),
    EMBEDDED_DB_PORT: String(port + 1),
    OPENAI_LOCAL_PORT: String(port + 2),
    PGLITE_DATA_DIR: join(dir, 'pg'),
    OPENAI_LOCAL_DATA_DIR: join(dir, 'oai'),
    EXPORT_DIR: join(dir, 'exports'),
    LOG_LEVEL: 'warn',
  }
  for (const k of ['DATABASE_URL', 'ADMIN_TOKEN', 'OPENAI_API_KEY', 'OPENAI_BASE_URL']) delete full[k]
  Object.assign(full, env)
  const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/start.ts'], {
    cwd: ROOT,
    env: full,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  child.stdout?.on('data', (d) => {
    out += d
  })
  child.stderr?.on('data', (d) => {
    out += d
  })
  return { child, pgid: child.pid as number, port, dir, output: () => out }
}

export interface ScriptRun {
  code: number | null
  stdout: string
  stderr: string
  /** stdout and stderr interleaved in arrival order. */
  output: string
}

/** Runs `scripts/<script>.ts` as its own process (as `npm run` would) and collects what it prints. */
export function runScript(
  script: string,
  args: string[],
  env: Record<string, string | undefined>,
): Promise<ScriptRun> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', `scripts/${script}.ts`, ...args], {
      cwd: ROOT,
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    const run: ScriptRun = { code: null, stdout: '', stderr: '', output: '' }
    child.stdout?.on('data', (d) => {
      run.stdout += d
      run.output += d
    })
    child.stderr?.on('data', (d) => {
      run.stderr += d
      run.output += d
    })
    child.on('exit', (code) => resolve({ ...run, code }))
  })
}
