/**
 * DB round trip: a query through the embedded server (pg over the wire protocol) vs the same
 * query on PGlite in-process. The ratio is the price of serving PGlite to many processes.
 */
import { PGlite } from '@electric-sql/pglite'
import { vector } from '@electric-sql/pglite-pgvector'
import { startEmbeddedPostgres } from '@loopdm/db/embedded'
import { createPool } from '@loopdm/db/pool'
import { type BenchRow, percentile, timeMany } from './harness.js'

export default async function dbBench(): Promise<BenchRow[]> {
  const N = 2000
  const raw = await PGlite.create({ extensions: { vector } })
  await raw.query('select 1')
  const rawMs = await timeMany(N, () => raw.query('select $1::int as x', [1]))
  await raw.close()

  const embedded = await startEmbeddedPostgres({ port: 0 })
  const pool = createPool({ connectionString: embedded.url, max: 4 })
  await pool.query('select 1')
  const wireMs = await timeMany(N, () => pool.query('select $1::int as x', [1]))
  await pool.end()
  await embedded.close()

  return [
    {
      name: 'db round trip p50 (embedded pg vs in-process)',
      value: percentile(wireMs, 50),
      baseline: percentile(rawMs, 50),
      unit: 'ms',
      better: 'lower',
    },
    {
      name: 'db round trip p99 (embedded pg vs in-process)',
      value: percentile(wireMs, 99),
      baseline: percentile(rawMs, 99),
      unit: 'ms',
      better: 'lower',
    },
  ]
}
