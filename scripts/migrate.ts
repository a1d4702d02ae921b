/** `npm run db:migrate`: applies migrations/ (idempotent). */

import { runMigrations } from '@loopdm/db/migrate'
import { openDatabase } from '@loopdm/db/open-database'
import { redactUrl } from '@loopdm/db/pool'
import { loadConfigOrExit } from '@loopdm/platform/config'
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
