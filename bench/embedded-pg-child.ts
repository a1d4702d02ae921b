/**
 * The embedded Postgres in its own process, as `npm start` runs it (the supervisor owns it, the
 * apps connect over the wire), for the benchmarks. Prints `URL <url>` and serves until its stdin
 * closes or it gets SIGTERM/SIGINT.
 */
import { fstatSync } from 'node:fs'
import { startEmbeddedPostgres } from '@loopdm/db/embedded'
import { loadConfig } from '@loopdm/platform/config'

// EMBEDDED_DB_SHARED_BUFFERS applies as under `npm start` (the rest of the config does not matter here).
const pg = await startEmbeddedPostgres({
  port: 0,
  dataDir: process.env.BENCH_PG_DATA_DIR,
  sharedBuffersBytes: loadConfig(process.env).db.embedded.sharedBuffersBytes,
})
process.stdout.write(`URL ${pg.url}\n`)
const stop = async () => {
  await pg.close()
  process.exit(0)
}
// Parents that hold a pipe to our stdin (bench/pg-process.ts) stop us by closing it; a parent that
// ignores stdin would hand us /dev/null, which ends at once, so only a pipe counts.
if (fstatSync(0).isFIFO()) {
  process.stdin.resume()
  process.stdin.on('end', () => void stop())
}
process.on('SIGTERM', () => void stop())
process.on('SIGINT', () => void stop())
