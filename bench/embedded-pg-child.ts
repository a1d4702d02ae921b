/**
 * Runs an in-memory embedded Postgres in its own process (as `npm start` does) for the gateway
 * benchmarks: prints `URL <url>` and stops when its stdin closes.
 */
import { startEmbeddedPostgres } from '@loopdm/shared/embedded-db'

const pg = await startEmbeddedPostgres({ port: 0 })
process.stdout.write(`URL ${pg.url}\n`)
process.stdin.resume()
process.stdin.on('end', () => {
  void pg.close().then(() => process.exit(0))
})
