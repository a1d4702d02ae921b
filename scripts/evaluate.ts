/**
 * `npm run evaluate [-- --candidate <model | registry id>] [--inline] [--timeout-ms N]`
 * Scores the candidate (default: the newest registry candidate), the active model and the base
 * model on the gold set, prints the summary table and applies the gate. Without `--inline` the
 * job goes on the `evaluate` queue and this waits for the evaluator worker's result.
 */

import { openDatabase } from '@loopdm/db/open-database'
import { redactUrl } from '@loopdm/db/pool'
import type { EvaluateJobResult } from '@loopdm/evaluator/jobs/evaluate.processor'
import { createEvaluationService } from '@loopdm/evaluator/services/evaluation.service'
import { createRegistryRepository } from '@loopdm/models/registry'
import { loadConfigOrExit } from '@loopdm/platform/config'
import { createAiClient } from '@loopdm/platform/openai'
import { createQueue } from '@loopdm/queues/bullmq'
import { EVALUATE_JOB_OPTIONS, EVALUATE_QUEUE, safeJobId } from '@loopdm/queues/contracts'
import { assertRedis, createRedis } from '@loopdm/redis/client'
import { QueueEvents } from 'bullmq'
import { cliLogger, parseArgs, say } from './lib/cli.js'

const { flags } = parseArgs(process.argv.slice(2))
const config = loadConfigOrExit()
const logger = cliLogger(config, 'evaluate')
try {
  await assertRedis(config.redis.url)
} catch (err) {
  say(`✗ ${(err as Error).message}`)
  process.exit(1)
}
const db = await openDatabase(config, { logger, migrate: true, max: 4 })
const redis = createRedis({ url: config.redis.url, role: 'producer', logger })
const registry = createRegistryRepository(db.pool)

async function main(): Promise<number> {
  let candidate = typeof flags.candidate === 'string' ? flags.candidate : undefined
  if (!candidate) {
    const pending = await registry.listByStatus(['candidate'])
    candidate = pending.at(-1)?.model
    if (!candidate) {
      say('✗ no candidate in the registry: pass --candidate <model> (or run `npm run tune` first)')
      return 1
    }
  }
  if (flags.inline) {
    const ai = createAiClient({ config, logger })
    const sut = createEvaluationService({ db: db.pool, redis, ai, config, logger, registry })
    say(`• evaluating ${candidate} inline on ${config.eval.goldPath} …`)
    const r = await sut.evaluate({ candidate, trigger: 'manual' })
    say(r.table)
    say(`eval run ${r.runId}: ${r.outcome}`)
    return 0
  }
  const queue = createQueue(EVALUATE_QUEUE, { config, logger })
  const events = new QueueEvents(EVALUATE_QUEUE, {
    connection: { url: config.redis.url } as never,
    prefix: config.redis.prefix,
  })
  try {
    // Nothing would take the job: say so now rather than after the timeout, and enqueue nothing.
    if ((await queue.getWorkersCount()) === 0) {
      say(
        `✗ no evaluator is connected to the "${EVALUATE_QUEUE}" queue (prefix "${config.redis.prefix}" on ${redactUrl(config.redis.url)}): start the stack with \`npm start\`, or run this with --inline`,
      )
      return 1
    }
    await events.waitUntilReady()
    const job = await queue.add(
      'evaluate',
      { trigger: 'manual', candidate },
      {
        ...EVALUATE_JOB_OPTIONS,
        attempts: 1,
        jobId: safeJobId('evaluate', candidate, 'manual', String(Date.now())),
      },
    )
    say(`• enqueued evaluate job ${job.id} for ${candidate}; waiting for the evaluator …`)
    const timeoutMs = Number(flags['timeout-ms'] ?? 600_000)
    let result: EvaluateJobResult
    try {
      result = (await job.waitUntilFinished(events, timeoutMs)) as EvaluateJobResult
    } catch (err) {
      say(`✗ the evaluate job ${job.id} failed: ${(err as Error).message}`)
      return 1
    }
    if (result.skipped) {
      say(`• ${result.candidate} was not evaluated: ${result.skipped}`)
      return 0
    }
    const f = (n: number | undefined) => (n === undefined ? '–' : n.toFixed(3))
    say(
      `✓ eval run ${result.runId}: ${result.candidate} scored ${f(result.score)} against ${f(result.currentScore)} for the current model (Δ ${f(result.delta)})`,
    )
    if (result.gold)
      say(
        `gold set: ${result.gold.source}, ${result.gold.size} items, sha256 ${result.gold.sha256.slice(0, 12)}`,
      )
    if (result.holdoutScore !== undefined && result.holdoutScore !== null)
      say(`holdout: the candidate scored ${f(result.holdoutScore)} on recent answers it never trained on`)
    say(`decision: ${result.outcome}`)
    if (result.promotionBlocked) say(result.promotionBlocked)
    say('  (the full table is in the evaluator log; `--inline` prints it here)')
    return 0
  } finally {
    await events.close()
    await queue.close()
  }
}

let code = 1
try {
  code = await main()
} catch (err) {
  say(`✗ ${(err as Error).message}`)
} finally {
  redis.disconnect()
  await db.close()
}
process.exit(code)
