/**
 * `npm run cleanup:models [-- --dry-run] [--month YYYY-MM] [--reports-dir reports]`: the monthly clean-up by hand —
 * model retirement (fine-tunes older than 90 days, never the active or rollback model), the
 * monthly report (reports/YYYY-MM.md) and the exporter's data retention.
 */

import { openDatabase } from '@loopdm/db/open-database'
import { runRetention } from '@loopdm/exporter/services/retention.service'
import { loadConfigOrExit } from '@loopdm/platform/config'
import { createLogger } from '@loopdm/platform/logger'
import { createOpenAISdk } from '@loopdm/platform/openai'
import { createFineTuneProvider } from '@loopdm/tuner/providers/create-provider'
import { runModelCleanup } from '@loopdm/tuner/services/model-cleanup.service'
import { parseArgs, say } from './lib/cli.js'

const { flags } = parseArgs(process.argv.slice(2))
const dryRun = flags['dry-run'] === true
const month = typeof flags.month === 'string' ? flags.month : undefined
const reportsDir = typeof flags['reports-dir'] === 'string' ? flags['reports-dir'] : 'reports'
const config = loadConfigOrExit()
const logger = createLogger({
  level: config.log.level,
  file: config.log.file,
  name: 'cleanup',
  destination: process.stderr,
})
const db = await openDatabase(config, { logger, migrate: true }).catch((err: Error) => {
  say(`cleanup:models: ${err.message}`)
  process.exit(1)
})
let code = 0
try {
  const sdk = createOpenAISdk({ config, logger })
  const now = new Date()
  const { retirement: r, report } = await runModelCleanup({
    db: db.pool,
    sdk,
    provider: createFineTuneProvider({ config, sdk }),
    config,
    logger,
    dryRun,
    now,
    month,
    reportsDir,
  })
  say(`model retirement${dryRun ? ' (dry run)' : ''}`)
  if (dryRun) say(`  would delete: ${r.wouldDelete?.join(', ') || 'none'}`)
  else {
    say(`  deleted:      ${r.deleted.join(', ') || 'none'}`)
    say(`  retired:      ${r.retired.join(', ') || 'none'}`)
  }
  for (const f of r.failed) say(`  not deleted:  ${f.model} — ${f.reason}`)
  for (const k of r.kept) say(`  kept:         ${k.model} — ${k.reason}`)
  say(
    `monthly report ${report.path} (spend $${report.totals.usd.toFixed(4)}, fine-tunes ${report.totals.finetunes})`,
  )

  const out = await runRetention({ db: db.pool, config, logger, dryRun, now })
  say(`data retention${dryRun ? ' (dry run)' : ''}: ${JSON.stringify(out)}`)
} catch (err) {
  say(`cleanup:models: ${(err as Error).message}`)
  code = 1
} finally {
  await db.close()
}
process.exit(code)
