import { rmSync } from 'node:fs'
import pg from 'pg'
import { afterEach, describe, expect, it } from 'vitest'
import { waitFor } from './lib/cli.js'
import { pidsOf, type StackProc, spawnStack } from './lib/stack-proc.js'

describe('npm start (the supervisor)', () => {
  let stack: StackProc | undefined
  afterEach(() => {
    if (stack && stack.child.exitCode === null) process.kill(-stack.pgid, 'SIGKILL')
    if (stack) rmSync(stack.dir, { recursive: true, force: true })
  })

  describe('when started on a fresh data directory and interrupted', () => {
    it('serves /readyz, prints the URLs and generated token, and leaves no process behind', async () => {
      // Its own process group, like a terminal's foreground job, so Ctrl-C reaches every member.
      stack = await spawnStack()
      const { child, pgid, port } = stack
      const out = () => stack?.output() ?? ''
      const up = await waitFor(() => Promise.resolve(out().includes('Ctrl-C stops everything')), 110_000)
      expect(up, out()).toBe(true)
      expect(out()).toContain('✓ Loop DM is up')
      expect(out()).toMatch(/ADMIN_TOKEN\s+\S{20,}/)
      expect(out()).toContain(`OPENAI_BASE_URL http://127.0.0.1:${port + 2}/v1`)
      // The embedded server's generated password is printed once, so psql or another process can connect.
      const dbUrl = /DATABASE_URL\s+(postgres:\/\/postgres:[0-9a-f]{48}@\S+)/.exec(out())?.[1]
      expect(dbUrl, out()).toBeDefined()
      const psql = new pg.Client({ connectionString: dbUrl })
      await psql.connect()
      expect((await psql.query('select 1 as one')).rows[0].one).toBe(1)
      await psql.end()
      const ready = await fetch(`http://127.0.0.1:${port}/readyz`)
      expect(ready.status).toBe(200)
      const apps = await pidsOf(pgid, 'apps/.*/src/main.ts')
      expect(apps.length).toBeGreaterThanOrEqual(5)
      // No OPENAI_API_KEY → openai-local runs and answers as the provider (see start-openai-local.test.ts for the key set).
      expect(await pidsOf(pgid, 'apps/openai-local/src/main.ts')).toHaveLength(1)
      const models = await fetch(`http://127.0.0.1:${port + 2}/v1/models`)
      expect(models.status).toBe(200)
      expect(((await models.json()) as { data: Array<{ id: string }> }).data.map((m) => m.id)).toContain(
        'text-embedding-3-small',
      )

      process.kill(-pgid, 'SIGINT')
      const code = await new Promise<number | null>((resolve) => child.once('exit', (c) => resolve(c)))
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
      stack = await spawnStack({ ADMIN_TOKEN: 'start-test-token' })
      const { pgid } = stack
      const out = () => stack?.output() ?? ''
      const up = await waitFor(() => Promise.resolve(out().includes('Ctrl-C stops everything')), 110_000)
      expect(up, out()).toBe(true)
      // A provided admin token is never printed.
      expect(out()).not.toContain('start-test-token')
      const apps = await pidsOf(pgid, 'apps/.*/src/main.ts')
      expect(apps.length).toBeGreaterThanOrEqual(5)

      process.kill(pgid, 'SIGKILL')
      const gone = await waitFor(async () => (await pidsOf(pgid, 'apps/.*/src/main.ts')).length === 0, 20_000)
      expect(gone).toBe(true)
    }, 150_000)
  })
})
