/** `npm run db:migrate`: applies migrations/ (idempotent). */
import { loadConfigOrExit } from '@loopdm/shared/config'
import { openDatabase } from '@loopdm/shared/database'
import { redactUrl } from '@loopdm/shared/db'
import { runMigrations } from '@loopdm/shared/migrate'
import { say } from './lib/cli.js'

const config = loadConfigOrExit()
try {
  const db = await openDatabase(config)
  try {
    const r = await runMigrations(db.pool)
    say(
      `${redactUrl(db.url)}: ${r.applied.length} applied (${r.applied.join(', ') || 'none'}), ${r.skipped.length} already applied`,
    )
  } finally {
    await db.close()
  }
} catch (err) {
  say(`db:migrate failed: ${(err as Error).message}`)
  process.exit(1)
}
