/**
 * `npm run tune [-- --dry-run] [--file F] [--force] [--inline] [--no-wait] [--timeout-ms N]`
 *
 * Validates the training data, counts tokens, estimates the cost against the monthly budget and
 * (unless --dry-run) starts the fine-tune: enqueued on `tune` for the running tuner (job id from the
 * file's sha256, so a second trigger joins the first), or in this process with --inline (also the
 * fallback when no tuner worker is running). Then waits for the provider job to end, unless --no-wait.
 * Exit codes: 0 done (or dry run that would pass), 1 error/failed fine-tune, 2 refused (or a dry
 * run that would be refused). --force trains even when the human + import share of the data is below
 * FT_MIN_HUMAN_SHARE (the refusal names the numbers).
 */

import { openDatabase } from '@loopdm/db/open-database'
import { loadConfigOrExit } from '@loopdm/platform/config'
import { createLogger } from '@loopdm/platform/logger'
import { TUNE_JOB, TUNE_JOB_OPTIONS, TUNE_QUEUE, tuneJobId, tunePollJobId } from '@loopdm/queues/contracts'
import { createRedis } from '@loopdm/redis/client'
import { pickTrainingData } from '@loopdm/training-data/training-file'
import type { PollResult } from '@loopdm/tuner/jobs/poll.processor'
import { runPoll } from '@loopdm/tuner/jobs/poll.processor'
import { runTune, type TuneResult } from '@loopdm/tuner/jobs/tune.processor'
import { createTunerDeps } from '@loopdm/tuner/jobs/tune.worker'
import { exemplarsLearner } from '@loopdm/tuner/learners/exemplars.learner'
import { formatDataReport, sha256File } from '@loopdm/tuner/services/training-data.service'
import { type ConnectionOptions, type Job, QueueEvents } from 'bullmq'
import { parseArgs, say } from './lib/cli.js'

const { flags } = parseArgs(process.argv.slice(2))
const dryRun = flags['dry-run'] === true
const file = typeof flags.file === 'string' ? flags.file : undefined
const force = flags.force === true
const wait = flags['no-wait'] !== true
const timeoutMs = Number(flags['timeout-ms'] ?? 24 * 3600_000)
const config = loadConfigOrExit()
// Human output on stdout; the JSON log goes to stderr (and LOG_FILE).
const logger = createLogger({
  level: config.log.level,
  file: config.log.file,
  name: 'tune',
  destination: process.stderr,
})

function printResult(r: TuneResult): void {
  for (const line of formatDataReport(r.report)) say(line)
  say(
    `cost estimate  $${r.estimateUsd.toFixed(4)} (${r.report.tokens} tokens × ${config.finetune.nEpochs} epoch(s) × $${r.pricePer1k}/1K at ${r.provider})`,
  )
  if (r.budget) {
    const b = r.budget
    say(
      b.budgetUsd === null
        ? `budget         unlimited (FT_BUDGET_USD_MONTHLY unset); $${b.monthToDateUsd.toFixed(4)} spent this month`
        : `budget         $${b.monthToDateUsd.toFixed(4)} spent + $${b.estimateUsd.toFixed(4)} = $${b.projectedUsd.toFixed(4)} of $${b.budgetUsd.toFixed(4)} (${Math.round((b.fraction ?? 0) * 100)}%)${b.alerts.length ? ` — alert ${b.alerts.at(-1)}%` : ''}`,
    )
  }
  if (r.outcome === 'dry-run')
    say(r.refusal ? `dry run: a real run would be REFUSED — ${r.refusal}` : 'dry run: OK, nothing uploaded')
  if (r.finetune)
    say(
      `fine-tune      #${r.finetune.id} ${r.outcome === 'existing' ? '(already exists for this data) ' : ''}provider job ${r.finetune.providerJobId ?? '-'} status ${r.finetune.status}${r.finetune.fineTunedModel ? ` model ${r.finetune.fineTunedModel}` : ''}`,
    )
}

function printPoll(r: PollResult): number {
  if (!r.done) return 1
  say(
    r.status === 'succeeded'
      ? `fine-tune succeeded: ${r.fineTunedModel} (${r.trainedTokens} trained tokens) — registered as a candidate, evaluate enqueued`
      : `fine-tune ${r.status}: ${r.error}`,
  )
  return r.status === 'succeeded' ? 0 : 1
}

const db = await openDatabase(config, { logger, migrate: true }).catch((err: Error) => {
  say(`tune: ${err.message}`)
  process.exit(1)
})
const deps = createTunerDeps({ config, logger, pool: db.pool })
let code = 0
try {
  if (config.learning.backend === 'exemplars') {
    // The exemplar learner: embed the export into a new exemplar set (seconds, idempotent per
    // content hash), register the candidate policy and enqueue its evaluation — in this process.
    const r = await exemplarsLearner.tune({ trigger: 'manual', file, dryRun }, deps)
    if (r.learner === 'exemplars') {
      say(`learner        exemplars (LEARNING_BACKEND); data ${r.file}`)
      say(
        `examples       ${r.examples} (${r.tokens} tokens, ${r.skipped} lines without a usable answer skipped)`,
      )
      say(
        `content hash   ${r.contentHash.slice(0, 12)}${r.set ? ` → exemplar set ${r.set.id} (${r.set.status})` : ''}`,
      )
      if (r.policy)
        say(
          `policy         ${r.policy.model} (id ${r.policy.id}, serves ${r.policy.servingModel}) ${r.outcome === 'existing' ? 'already built for this data' : 'registered as a candidate'}; evaluate enqueued`,
        )
      else say('dry run: nothing embedded or stored')
    }
  } else {
    const workers = dryRun || flags.inline === true ? [] : await deps.tuneQueue.getWorkers()
    if (dryRun || workers.length === 0) {
      if (!dryRun && flags.inline !== true) say('no tuner worker is running (npm start): running inline')
      const r = await runTune({ trigger: 'manual', file, dryRun, force }, deps)
      printResult(r)
      if (r.outcome === 'dry-run') code = r.refusal ? 2 : 0
      else if (wait && r.finetune?.providerJobId) {
        const until = Date.now() + timeoutMs
        let p = await runPoll({ finetuneJobId: r.finetune.providerJobId }, deps)
        while (!p.done && Date.now() < until) {
          say(`  ${new Date().toISOString()} ${p.status}`)
          await new Promise((res) => setTimeout(res, p.done ? 0 : p.nextDelayMs))
          p = await runPoll({ finetuneJobId: r.finetune.providerJobId }, deps)
        }
        code = printPoll(p)
      }
    } else {
      // The job id must be known before the worker runs: resolve the data the way the job will.
      const last = await deps.finetunes.lastSucceeded()
      const picked = await pickTrainingData({ config, file, lastDataThrough: last?.dataThrough })
      const sha = await sha256File(picked.path)
      const jobId = tuneJobId(sha)
      const old = await deps.tuneQueue.getJob(jobId)
      // A refused attempt (e.g. over budget) may be retried once the operator changed something.
      if (old && (await old.getState()) === 'failed') await old.remove()
      const events = new QueueEvents(TUNE_QUEUE, {
        connection: createRedis({ url: config.redis.url, role: 'worker' }) as unknown as ConnectionOptions,
        prefix: config.redis.prefix,
      })
      await events.waitUntilReady()
      try {
        const job: Job = await deps.tuneQueue.add(
          TUNE_JOB.tune,
          { trigger: 'manual', file, dryRun: false, force },
          { ...TUNE_JOB_OPTIONS, jobId },
        )
        say(`enqueued tune job ${jobId} for ${picked.path}`)
        const r = (await job.waitUntilFinished(events, timeoutMs)) as TuneResult
        printResult(r)
        const pollJob = await deps.tuneQueue.getJob(tunePollJobId(sha))
        if (wait && pollJob) {
          say(`waiting for the fine-tune (poll job ${pollJob.id}; Ctrl-C leaves it running in the tuner)`)
          code = printPoll((await pollJob.waitUntilFinished(events, timeoutMs)) as PollResult)
        }
      } finally {
        await events.close()
      }
    }
  }
} catch (err) {
  const e = err as Error & { code?: string }
  say(`tune: ${e.message}`)
  code =
    e.code === 'TRAINING_DATA_REFUSED' || e.code === 'BUDGET_EXCEEDED' || /Refused|Budget/.test(e.message)
      ? 2
      : 1
} finally {
  await deps.close()
  await db.close()
}
process.exit(code)
