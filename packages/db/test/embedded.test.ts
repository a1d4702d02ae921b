import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type EmbeddedPostgres, embeddedOwner, startEmbeddedPostgres } from '@loopdm/db/embedded'
import { resolveDatabaseUrl } from '@loopdm/db/open-database'
import { loadConfig } from '@loopdm/platform/config'
import { EmbeddedDbOwnedError } from '@loopdm/platform/errors'
import pg from 'pg'
import { afterAll, describe, expect, it } from 'vitest'

describe('startEmbeddedPostgres', () => {
  const dir = mkdtempSync(join(tmpdir(), 'loopdm-pg-'))
  let sut: EmbeddedPostgres | undefined
  afterAll(async () => {
    await sut?.close()
    rmSync(dir, { recursive: true, force: true })
  })

  describe('when started on a data directory', () => {
    it('serves pgvector over the wire and persists across restarts', async () => {
      sut = await startEmbeddedPostgres({ dataDir: dir, port: 0 })
      const c = new pg.Client({ connectionString: sut.url })
      await c.connect()
      await c.query('create table kept (v vector(3))')
      await c.query("insert into kept values ('[1,2,3]')")
      await c.end()
      expect(embeddedOwner(dir)?.pid).toBe(process.pid)
      await sut.close()
      expect(embeddedOwner(dir)).toBeUndefined()

      sut = await startEmbeddedPostgres({ dataDir: dir, port: 0 })
      const c2 = new pg.Client({ connectionString: sut.url })
      await c2.connect()
      const r = await c2.query('select v::text from kept')
      await c2.end()
      expect(r.rows[0].v).toBe('[1,2,3]')
    }, 60_000)

    it('starts with the shared_buffers EMBEDDED_DB_SHARED_BUFFERS names (PGlite’s 128MB when unset)', async () => {
      const sized = await startEmbeddedPostgres({
        port: 0,
        sharedBuffersBytes: loadConfig({ EMBEDDED_DB_SHARED_BUFFERS: '48MB' }).db.embedded.sharedBuffersBytes,
      })
      const plain = await startEmbeddedPostgres({ port: 0 })
      try {
        const show = async (url: string) => {
          const c = new pg.Client({ connectionString: url })
          await c.connect()
          const r = await c.query('show shared_buffers')
          await c.end()
          return r.rows[0].shared_buffers as string
        }
        expect(await show(sized.url)).toBe('48MB')
        expect(await show(plain.url)).toBe('128MB')
      } finally {
        await sized.close()
        await plain.close()
      }
    }, 60_000)

    it('keeps one generated password per directory in a 0600 file', async () => {
      const first = sut?.password
      const file = join(dir, '.password')
      expect(sut?.passwordFile).toBe(file)
      expect(readFileSync(file, 'utf8').trim()).toBe(first)
      expect(statSync(file).mode & 0o777).toBe(0o600)
      expect(statSync(join(dir, 'loopdm-owner.json')).mode & 0o777).toBe(0o600)
      await sut?.close()
      sut = await startEmbeddedPostgres({ dataDir: dir, port: 0 })
      expect(sut.password).toBe(first)
    }, 60_000)
  })

  describe('when another process already owns the directory', () => {
    it('refuses with an error naming the owner and how to share it', async () => {
      const { spawn } = await import('node:child_process')
      await sut?.close()
      sut = undefined
      // A real second process takes ownership first.
      const script = `import { startEmbeddedPostgres } from './packages/db/src/embedded.ts';
        const s = await startEmbeddedPostgres({ dataDir: ${JSON.stringify(dir)}, port: 0 });
        process.stdout.write('ready\\n'); process.on('SIGTERM', async () => { await s.close(); process.exit(0) });`
      const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
        stdio: ['ignore', 'pipe', 'inherit'],
      })
      await new Promise<void>((resolve, reject) => {
        child.stdout.on('data', (d) => String(d).includes('ready') && resolve())
        child.once('exit', (code) => reject(new Error(`owner exited ${code}`)))
      })
      try {
        const err = await startEmbeddedPostgres({ dataDir: dir, port: 0 }).catch((e) => e)
        expect(err).toBeInstanceOf(EmbeddedDbOwnedError)
        expect(err.message).toMatch(new RegExp(`already owned by process ${child.pid}`))
        expect(err.message).toMatch(/DATABASE_URL=postgres:\/\//)
        // A second process shares it through the owner file, password included.
        const shared = await resolveDatabaseUrl(loadConfig({ PGLITE_DATA_DIR: dir }))
        expect(shared.embedded).toBeUndefined()
        const c = new pg.Client({ connectionString: shared.url })
        await c.connect()
        expect((await c.query('select v::text from kept')).rows[0].v).toBe('[1,2,3]')
        await c.end()
      } finally {
        child.kill('SIGTERM')
        await new Promise((r) => child.once('exit', r))
      }
    }, 60_000)
  })
})
