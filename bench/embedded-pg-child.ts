/**
 * The embedded Postgres in its own process, as `npm start` runs it (the supervisor owns it, the
 * apps connect over the wire). Prints `URL <url>` and serves until SIGTERM. Used by export.bench.ts.
 */
import { startEmbeddedPostgres } from '@loopdm/shared/embedded-db'

const pg = await startEmbeddedPostgres({ port: 0 })
process.stdout.write(`URL ${pg.url}\n`)
const stop = async () => {
  await pg.close()
  process.exit(0)
}
process.on('SIGTERM', stop)
process.on('SIGINT', stop)
