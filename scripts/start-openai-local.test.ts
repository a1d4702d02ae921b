import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { portAnswers } from '@loopdm/shared/embedded-db'
import { afterEach, describe, expect, it } from 'vitest'
import { ROOT, waitFor } from './lib/cli.js'

/** Pids in process group `pgid` whose command line matches `pattern`. */
function pidsOf(pgid: number, pattern: string): Promise<number[]> {
  return new Promise((resolve) => {
    const ps = spawn('pgrep', ['-g', String(pgid), '-f', pattern])
    let out = ''
    ps.stdout.on('data', (d) => {
      out += d
    })
    ps.on('exit', () => resolve(out.split('\n').filter(Boolean).map(Number)))
  })
}

/**
 * `npm start` and the provider: openai-local runs only when OPENAI_API_KEY is unset. The unset
 * case (openai-local started and answering /v1/models) is asserted in start.test.ts; here the key
 * is set, and the supervisor must start every other app but never openai-local.
 */
describe('npm start with OPENAI_API_KEY set', () => {
  let child: ChildProcess | undefined
  let dir: string | undefined
  afterEach(async () => {
    if (child?.pid && child.exitCode === null) {
      const pgid = child.pid
      process.kill(-pgid, 'SIGINT')
      const stopped = await waitFor(async () => (await pidsOf(pgid, '.')).length === 0, 15_000)
      if (!stopped) process.kill(-pgid, 'SIGKILL')
    }
    if (dir) rmSync(dir, { recursive: true, force: true })
  })

  it('starts the apps but never openai-local, and prints that OpenAI itself is the provider', async () => {
    dir = mkdtempSync(join(tmpdir(), 'loopdm-start-key-'))
    const port = 20000 + Math.floor(Math.random() * 20000)
    const localPort = port + 2
    const env: Record<string, string | undefined> = {
      ...process.env,
      PORT: String(port),
      EMBEDDED_DB_PORT: String(port + 1),
      OPENAI_LOCAL_PORT: String(localPort),
      PGLITE_DATA_DIR: join(dir, 'pg'),
      OPENAI_LOCAL_DATA_DIR: join(dir, 'oai'),
      EXPORT_DIR: join(dir, 'exports'),
      LOG_LEVEL: 'warn',
      OPENAI_API_KEY: 'sk-test-not-a-real-key',
      // A dead local address: nothing in this test may reach the network.
      OPENAI_BASE_URL: 'http://127.0.0.1:9/v1',
    }
    delete env.DATABASE_URL
    child = spawn(process.execPath, ['--import', 'tsx', 'scripts/start.ts'], {
      cwd: ROOT,
      env,
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
    const pgid = child.pid as number
    // openai-local would be spawned first; once the last app is running the supervisor is past it.
    const appsUp = await waitFor(
      async () => (await pidsOf(pgid, 'apps/evaluator/src/main.ts')).length > 0,
      90_000,
    )
    expect(appsUp, out).toBe(true)
    expect((await pidsOf(pgid, 'apps/gateway/src/main.ts')).length).toBe(1)
    expect(await pidsOf(pgid, 'apps/openai-local/src/main.ts')).toEqual([])
    expect(await portAnswers(localPort)).toBe(false)
    expect(out).not.toContain('[openai-local]')
    expect(out).not.toContain('openai-local, offline')
    // The summary comes after the gateway's readiness wait; when it is printed it names OpenAI.
    const summary = await waitFor(() => Promise.resolve(out.includes('Ctrl-C stops everything')), 30_000)
    if (summary) expect(out).toContain('api.openai.com (OPENAI_API_KEY is set)')
    expect(await pidsOf(pgid, 'apps/openai-local/src/main.ts')).toEqual([])
  }, 150_000)
})
