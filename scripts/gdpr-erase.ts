/**
 * `npm run gdpr:erase -- <igUserId> [--actor <name>]`: erases one user everywhere (see README
 * "GDPR erase") and prints the counts. Uses DATABASE_URL, or the embedded database (the running
 * stack's, else one this process starts), and the Redis at REDIS_URL. Idempotent: a second run
 * prints zeros. Exit 0 on success, 2 on bad usage, 1 on failure (nothing is half-deleted in
 * Postgres: the table deletes are one transaction).
 */
import { userInfo } from 'node:os'
import { openDatabase } from '@loopdm/db/open-database'
import { createDmJobsRepository } from '@loopdm/gateway/repositories/dm-jobs.repository'
import { createGdprService } from '@loopdm/gateway/services/gdpr.service'
import { loadConfigOrExit } from '@loopdm/platform/config'
import { createOpenAISdk } from '@loopdm/platform/openai'
import { createQueue } from '@loopdm/queues/bullmq'
import { DM_QUEUE } from '@loopdm/queues/contracts'
import { assertRedis } from '@loopdm/redis/client'
import { cliLogger, parseArgs, say } from './lib/cli.js'
import { exportEraser } from './lib/export-eraser.js'

const { flags, positionals } = parseArgs(process.argv.slice(2))
const igUserId = positionals[0]
if (!igUserId || positionals.length > 1 || !/^[A-Za-z0-9_.-]{1,128}$/.test(igUserId)) {
  process.stderr.write('usage: npm run gdpr:erase -- <igUserId> [--actor <name>]\n')
  process.exit(2)
}
const actor = typeof flags.actor === 'string' ? flags.actor : `cli:${userInfo().username}`

const config = loadConfigOrExit()
const logger = cliLogger(config, 'gdpr-erase')
try {
  await assertRedis(config.redis.url)
  const db = await openDatabase(config, { migrate: true, logger, applicationName: 'loopdm-gdpr-erase' })
  const queue = createQueue(DM_QUEUE, { config, logger })
  try {
    const gdpr = createGdprService({
      db: db.pool,
      config,
      dmJobs: createDmJobsRepository(queue),
      exportEraser: await exportEraser(),
      logger,
      sdk: createOpenAISdk({ config, logger }),
    })
    const r = await gdpr.eraseUser({ igUserId, actor })
    const c = r.counts
    say(JSON.stringify({ erasureId: r.erasureId, userKey: r.userKey, actor, counts: c }))
    say(
      `${r.empty ? 'nothing left to erase' : 'erased'}: ${c.rows} rows (${Object.entries(c.tables)
        .map(([t, n]) => `${t} ${n}`)
        .join(', ')}), ${c.jobs} dm jobs scrubbed, ${c.exportLines} export lines in ${c.exportFiles} files` +
        (c.exportUploadedFiles ||
        c.providerFilesDeleted ||
        c.providerFilesAlreadyGone ||
        c.providerFilesFailed
          ? `; provider copies: ${c.providerFilesDeleted} deleted, ${c.providerFilesAlreadyGone} already gone, ${c.providerFilesDeferred} deleted when their fine-tune ends, ${c.providerFilesFailed} failed (delete by hand — see the log)`
          : '') +
        (c.exportRunRolledBack
          ? `; export run ${c.exportRunRolledBack} (its exporter had died) rolled back first`
          : '') +
        ` — audit row ${r.erasureId}`,
    )
  } finally {
    await queue.close().catch(() => {})
    await db.close()
  }
} catch (err) {
  say(`gdpr:erase failed: ${(err as Error).message}`)
  process.exit(1)
}
process.exit(0)
