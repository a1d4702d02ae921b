import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { ROOT, waitFor } from './lib/cli.js'

function freePortish(): number {
  return 20000 + Math.floor(Math.random() * 20000)
}

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

describe('npm start (the supervisor)', () => {
  let child: ChildProcess | undefined
  let dir: string | undefined
  afterEach(() => {
    if (child?.pid && child.exitCode === null) process.kill(-child.pid, 'SIGKILL')
    if (dir) rmSync(dir, { recursive: true, force: true })
  })

  describe('when started on a fresh data directory and interrupted', () => {
    it('serves /readyz, prints the URLs and generated token, and leaves no process behind', async () => {
      dir = mkdtempSync(join(tmpdir(), 'loopdm-start-'))
      const port = freePortish()
      const env = {
        ...process.env,
        PORT: String(port),
        EMBEDDED_DB_PORT: String(port + 1),
        OPENAI_LOCAL_PORT: String(port + 2),
        PGLITE_DATA_DIR: join(dir, 'pg'),
        OPENAI_LOCAL_DATA_DIR: join(dir, 'oai'),
        EXPORT_DIR: join(dir, 'exports'),
        LOG_LEVEL: 'warn',
      }
      delete (env as Record<string, string | undefined>).DATABASE_URL
      delete (env as Record<string, string | undefined>).ADMIN_TOKEN
      delete (env as Record<string, string | undefined>).OPENAI_API_KEY
      delete (env as Record<string, string | undefined>).OPENAI_BASE_URL
      // Its own process group, like a terminal's foreground job, so Ctrl-C reaches every member.
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
      const up = await waitFor(() => Promise.resolve(out.includes('Ctrl-C stops everything')), 110_000)
      expect(up, out).toBe(true)
      expect(out).toContain('✓ Loop DM is up')
      expect(out).toMatch(/ADMIN_TOKEN\s+\S{20,}/)
      expect(out).toContain(`OPENAI_BASE_URL http://127.0.0.1:${port + 2}/v1`)
      const ready = await fetch(`http://127.0.0.1:${port}/readyz`)
      expect(ready.status).toBe(200)
      const pgid = child.pid as number
      const apps = await pidsOf(pgid, 'apps/.*/src/main.ts')
      expect(apps.length).toBeGreaterThanOrEqual(5)
      // No OPENAI_API_KEY → openai-local runs and answers as the provider (see start-openai-local.test.ts for the key set).
      expect(await pidsOf(pgid, 'apps/openai-local/src/main.ts')).toHaveLength(1)
      const models = await fetch(`http://127.0.0.1:${port + 2}/v1/models`)
      expect(models.status).toBe(200)
      expect(((await models.json()) as { data: Array<{ id: string }> }).data.map((m) => m.id)).toContain(
        'text-embedding-3-small',
      )

      process.kill(-(child.pid as number), 'SIGINT')
      const code = await new Promise<number | null>((resolve) => child?.once('exit', (c) => resolve(c)))
      expect(code).toBe(0)
      const left = await waitFor(async () => {
        const pids = await pidsOf(pgid, '.')
        return pids.length === 0
      }, 10_000)
      expect(left).toBe(true)
    }, 150_000)
  })

  describe('when the supervisor itself is killed (SIGKILL, no chance to clean up)', () => {
    it('its apps notice they were orphaned and stop by themselves', async () => {
      dir = mkdtempSync(join(tmpdir(), 'loopdm-start-'))
      const port = freePortish()
      const env: Record<string, string | undefined> = {
        ...process.env,
        PORT: String(port),
        EMBEDDED_DB_PORT: String(port + 1),
        OPENAI_LOCAL_PORT: String(port + 2),
        PGLITE_DATA_DIR: join(dir, 'pg'),
        OPENAI_LOCAL_DATA_DIR: join(dir, 'oai'),
        EXPORT_DIR: join(dir, 'exports'),
        LOG_LEVEL: 'warn',
        ADMIN_TOKEN: 'start-test-token',
      }
      for (const k of ['DATABASE_URL', 'OPENAI_API_KEY', 'OPENAI_BASE_URL']) delete env[k]
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
      const up = await waitFor(() => Promise.resolve(out.includes('Ctrl-C stops everything')), 110_000)
      expect(up, out).toBe(true)
      // A provided admin token is never printed.
      expect(out).not.toContain('start-test-token')
      const pgid = child.pid as number
      const apps = await pidsOf(pgid, 'apps/.*/src/main.ts')
      expect(apps.length).toBeGreaterThanOrEqual(5)

      process.kill(pgid, 'SIGKILL')
      const gone = await waitFor(async () => (await pidsOf(pgid, 'apps/.*/src/main.ts')).length === 0, 20_000)
      expect(gone).toBe(true)
    }, 150_000)
  })
})
