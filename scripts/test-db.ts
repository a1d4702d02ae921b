/**
 * `npm run test:db` (first half): the seed's diagnostic. Connects to DATABASE_URL or the embedded
 * database, reports the server version, pgvector, applied migrations and a round-trip latency.
 * Exits non-zero naming the first check that failed.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { checksum, MIGRATIONS_DIR } from '@loopdm/db/migrate'
import { openDatabase } from '@loopdm/db/open-database'
import { redactUrl } from '@loopdm/db/pool'
import { loadConfigOrExit } from '@loopdm/platform/config'
import { say } from './lib/cli.js'

const config = loadConfigOrExit()
let failed = false
const check = (ok: boolean, line: string) => {
  say(`${ok ? '✓' : '✗'} ${line}`)
  if (!ok) failed = true
}

let db: Awaited<ReturnType<typeof openDatabase>>
try {
  db = await openDatabase(config, { max: 2 })
} catch (err) {
  say(`✗ cannot connect: ${(err as Error).message}`)
  process.exit(1)
}
try {
  check(true, `connected to ${redactUrl(db.url)}${db.embedded ? ' (embedded, started by this check)' : ''}`)
  const v = await db.pool.query<{ version: string }>('select version()')
  check(true, `server: ${v.rows[0]?.version.split(' on ')[0]}`)
  const ext = await db.pool.query<{ extversion: string }>(
    "select extversion from pg_extension where extname = 'vector'",
  )
  check(
    ext.rowCount === 1,
    ext.rowCount === 1
      ? `pgvector ${ext.rows[0]?.extversion}`
      : 'pgvector is not installed (create extension vector, or use the pgvector/pgvector image)',
  )
  const files = readdirSync(MIGRATIONS_DIR)
    .filter((f) => f.endsWith('.sql'))
    .sort()
  const applied = await db.pool
    .query<{ name: string; checksum: string }>('select name, checksum from schema_migrations')
    .then((r) => new Map(r.rows.map((x) => [x.name, x.checksum])))
    .catch(() => new Map<string, string>())
  const missing = files.filter((f) => !applied.has(f))
  const changed = files.filter(
    (f) => applied.has(f) && applied.get(f) !== checksum(readFileSync(`${MIGRATIONS_DIR}/${f}`, 'utf8')),
  )
  check(
    missing.length === 0 && changed.length === 0,
    missing.length || changed.length
      ? `migrations: ${missing.length} not applied (${missing.join(', ')}) — run npm run db:migrate; ${changed.length} changed after applying (${changed.join(', ')})`
      : `migrations: all ${files.length} applied`,
  )
  const samples: number[] = []
  for (let i = 0; i < 20; i++) {
    const t = performance.now()
    await db.pool.query('select 1')
    samples.push(performance.now() - t)
  }
  samples.sort((a, b) => a - b)
  check(true, `round trip: p50 ${samples[10]?.toFixed(2)} ms, max ${samples[19]?.toFixed(2)} ms`)
} catch (err) {
  check(false, (err as Error).message)
} finally {
  await db.close()
}
process.exit(failed ? 1 : 0)
