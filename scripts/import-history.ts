/**
 * `npm run import:history -- <file.jsonl>`: imports past conversations (one JSON object per line:
 * `igUserId`, `role` user|assistant, `text`, `timestamp` ms or ISO-8601, optional `author`, `id`)
 * as `import` turns — idempotent, so a re-run adds nothing. Prints a progress line; invalid lines
 * are listed with their number (exit 1 when there were any, after importing the valid ones).
 * Uses DATABASE_URL, or the embedded database. Exit 2 on bad usage.
 */
import { createReadStream, existsSync } from 'node:fs'
import { createInterface } from 'node:readline'
import { openDatabase } from '@loopdm/db/open-database'
import { createConversationRepository } from '@loopdm/gateway/repositories/conversation.repository'
import { importHistory } from '@loopdm/gateway/services/history-import'
import { loadConfigOrExit } from '@loopdm/platform/config'
import { cliLogger, parseArgs, say } from './lib/cli.js'

const { positionals } = parseArgs(process.argv.slice(2))
const file = positionals[0]
if (!file || positionals.length > 1) {
  process.stderr.write('usage: npm run import:history -- <file.jsonl>\n')
  process.exit(2)
}
if (!existsSync(file)) {
  process.stderr.write(`import:history: no such file: ${file}\n`)
  process.exit(2)
}

const config = loadConfigOrExit()
const logger = cliLogger(config, 'import-history')
const db = await openDatabase(config, { migrate: true, logger, applicationName: 'loopdm-import-history' })
try {
  const lines = createInterface({
    input: createReadStream(file, 'utf8'),
    crlfDelay: Number.POSITIVE_INFINITY,
  })
  const report = await importHistory({
    conversations: createConversationRepository(db.pool),
    lines,
    onProgress: (r) =>
      process.stderr.write(
        `import:history: ${r.lines} lines, ${r.imported} imported, ${r.existing} already there, ${r.invalid.length} invalid\n`,
      ),
  })
  for (const bad of report.invalid.slice(0, 20)) say(`  line ${bad.line}: ${bad.error}`)
  if (report.invalid.length > 20) say(`  … and ${report.invalid.length - 20} more invalid lines`)
  say(`imported ${report.imported} turns (${report.existing} were already imported) from ${file}`)
  process.exitCode = report.invalid.length > 0 ? 1 : 0
} catch (err) {
  process.stderr.write(`import:history failed: ${(err as Error).message}\n`)
  process.exitCode = 1
} finally {
  await db.close()
}
