/**
 * `npm run export:ft [-- --inline] [--dry-run] [--since ISO] [--until ISO] [--date D]`: enqueues an
 * export job and waits for its result (the exporter app must be running), or with --inline runs
 * the export in this process (starting the embedded database if no stack runs).
 */

import { openDatabase } from '@loopdm/db/open-database'
import { CliUsageError, EXPORT_USAGE, formatExportSummary, parseExportCli } from '@loopdm/exporter/export-cli'
import { maintainAfter } from '@loopdm/exporter/jobs/export.processor'
import type { ExportResult } from '@loopdm/exporter/services/export.service'
import { createExportService } from '@loopdm/exporter/services/export.service'
import { loadConfigOrExit } from '@loopdm/platform/config'
import { createLogger } from '@loopdm/platform/logger'
import { createQueue } from '@loopdm/queues/bullmq'
import {
  EXPORT_JOB_OPTIONS,
  EXPORT_QUEUE,
  exportJobId,
  TUNE_JOB,
  TUNE_JOB_OPTIONS,
  TUNE_QUEUE,
  tuneAfterExportJobId,
} from '@loopdm/queues/contracts'
import { assertRedis, createRedis } from '@loopdm/redis/client'
import { type ConnectionOptions, QueueEvents } from 'bullmq'
import { parseArgs, say } from './lib/cli.js'

const { flags, positionals } = parseArgs(process.argv.slice(2))
if (flags.help) {
  say(EXPORT_USAGE)
  process.exit(0)
}
let opts: ReturnType<typeof parseExportCli>
try {
  opts = parseExportCli(flags, positionals)
} catch (err) {
  if (!(err instanceof CliUsageError)) throw err
  process.stderr.write(`export:ft: ${err.message}\n${EXPORT_USAGE}\n`)
  process.exit(2)
}
const config = loadConfigOrExit()
const logger = createLogger({
  level: config.log.level,
  file: config.log.file,
  name: 'export-ft',
  destination: process.stderr,
})

async function inline(): Promise<ExportResult> {
  const db = await openDatabase(config, { logger, migrate: true })
  let tuneQueue: ReturnType<typeof createQueue> | undefined
  try {
    const exporter = createExportService({
      db: db.pool,
      config,
      logger,
      enqueueTune: async (date) => {
        try {
          await assertRedis(config.redis.url)
        } catch (err) {
          logger.warn({ err: (err as Error).message }, 'tune not enqueued: Redis is not reachable')
          return false
        }
        tuneQueue ??= createQueue(TUNE_QUEUE, { config, logger })
        await tuneQueue.add(
          TUNE_JOB.tune,
          { trigger: 'export' },
          { ...TUNE_JOB_OPTIONS, jobId: tuneAfterExportJobId(date) },
        )
        return true
      },
    })
    return await maintainAfter(await exporter.run(opts.payload), { exporter, logger })
  } finally {
    await tuneQueue?.close()
    await db.close()
  }
}

async function queued(): Promise<ExportResult> {
  await assertRedis(config.redis.url)
  const queue = createQueue(EXPORT_QUEUE, { config, logger })
  const events = new QueueEvents(EXPORT_QUEUE, {
    connection: createRedis({
      url: config.redis.url,
      role: 'worker',
      logger,
    }) as unknown as ConnectionOptions,
    prefix: config.redis.prefix,
  })
  try {
    if ((await queue.getWorkersCount()) === 0) {
      throw new Error(
        'no exporter worker is listening on the export queue: start the stack (npm start) or run with --inline',
      )
    }
    await events.waitUntilReady()
    const p = opts.payload
    const date = p.date ?? new Date().toISOString().slice(0, 10)
    const suffix =
      p.since || p.until ? `-backfill-${p.since ?? ''}-${p.until ?? ''}` : `-manual-${Date.now()}`
    const job = await queue.add('export', p, {
      ...EXPORT_JOB_OPTIONS,
      attempts: 1,
      jobId: exportJobId(date, suffix),
    })
    say(`export job ${job.id} enqueued; waiting for it (up to ${opts.timeoutMs / 1000} s)`)
    return (await job.waitUntilFinished(events, opts.timeoutMs)) as ExportResult
  } finally {
    await events.close()
    await queue.close()
  }
}

try {
  const r = opts.inline ? await inline() : await queued()
  say(formatExportSummary(r))
  process.exit(0)
} catch (err) {
  process.stderr.write(`export:ft: ${(err as Error).message}\n`)
  process.exit(1)
}
