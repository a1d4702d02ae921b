/**
 * `npm run demo`: the whole loop once, on the embedded defaults, from an empty database.
 *
 * Linden & Loom (evals/shop.md) imports its past staff-answered DMs, then ~200 signed DMs from 20
 * customers go through a real gateway process and the bot (BASE_MODEL) answers them. Then:
 * export (PII-redacted JSONL) → tune (openai-local fine-tune) → evaluate (gold set, gate) →
 * approve (admin API) → promote → the running gateway switches to the `ft:` model without a
 * restart → rollback → forward again. Prints a summary and exits 0.
 *
 * Honours EXPORT_DIR, PORT and PGLITE_DATA_DIR; needs nothing else but a Redis. Without them it
 * works in `.data/demo/` (wiped at start).
 */
import { randomBytes } from 'node:crypto'
import { mkdirSync, readFileSync, rmSync } from 'node:fs'
import { resolve } from 'node:path'
import { startEmbeddedPostgres } from '@loopdm/db/embedded'
import { runMigrations } from '@loopdm/db/migrate'
import { createPool } from '@loopdm/db/pool'
import { createEvaluationService } from '@loopdm/evaluator/services/evaluation.service'
import { createExportService } from '@loopdm/exporter/services/export.service'
import { createConversationRepository } from '@loopdm/gateway/repositories/conversation.repository'
import { importHistory } from '@loopdm/gateway/services/history-import'
import { createRegistryRepository } from '@loopdm/models/registry'
import { startOpenAILocal } from '@loopdm/openai-local/server'
import { loadConfig } from '@loopdm/platform/config'
import { createLogger } from '@loopdm/platform/logger'
import { createAiClient } from '@loopdm/platform/openai'
import { createQueue } from '@loopdm/queues/bullmq'
import { ALL_QUEUES } from '@loopdm/queues/contracts'
import { assertRedis, createRedis } from '@loopdm/redis/client'
import { type GatewayProc, sendDm, spawnGateway } from '@loopdm/testing/gateway-proc'
import { runPoll } from '@loopdm/tuner/jobs/poll.processor'
import { runTune } from '@loopdm/tuner/jobs/tune.processor'
import { createTunerDeps } from '@loopdm/tuner/jobs/tune.worker'
import { liveDmsFor } from './demo/live-dms.js'
import { ROOT, say } from './lib/cli.js'

const started = performance.now()
const elapsed = () => `${((performance.now() - started) / 1000).toFixed(1)}s`
const step = (s: string) => say(`\n▶ ${s}  [${elapsed()}]`)
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

const env = process.env
const work = resolve(ROOT, '.data/demo')
const pgDir = env.PGLITE_DATA_DIR ? resolve(env.PGLITE_DATA_DIR) : resolve(work, 'pg')
const exportDir = env.EXPORT_DIR ? resolve(env.EXPORT_DIR) : resolve(work, 'exports')
// Only the demo's own default directories are wiped; a directory you pass is used as it is.
if (!env.PGLITE_DATA_DIR) rmSync(pgDir, { recursive: true, force: true })
if (!env.EXPORT_DIR) rmSync(exportDir, { recursive: true, force: true })
mkdirSync(exportDir, { recursive: true })

const id = randomBytes(4).toString('hex')
const redisUrl = env.REDIS_URL ?? 'redis://127.0.0.1:6379'
const adminToken = randomBytes(12).toString('hex')

const cleanups: Array<() => Promise<unknown>> = []
async function cleanup() {
  for (const c of cleanups.reverse()) await c().catch(() => {})
}

async function main() {
  say('Loop DM demo — Linden & Loom, a small knitwear shop on Instagram (evals/shop.md)')
  await assertRedis(redisUrl)

  step('starting the embedded Postgres, openai-local and a gateway process')
  const embedded = await startEmbeddedPostgres({ dataDir: pgDir, port: 0 })
  cleanups.push(() => embedded.close())
  const pool = createPool({ connectionString: embedded.url, max: 6 })
  cleanups.push(() => pool.end())
  await runMigrations(pool)
  // A fresh fine-tune answers 404 for a moment, as on OpenAI: the promotion's probe waits for it.
  const openai = await startOpenAILocal({ port: 0, ftStepMs: 150, callableAfterMs: 1500 })
  cleanups.push(() => openai.close())
  const appEnv: Record<string, string> = {
    DATABASE_URL: embedded.url,
    REDIS_URL: redisUrl,
    QUEUE_PREFIX: `demo-${id}`,
    MODEL_CHANNEL: `demo-${id}:model:active`,
    OPENAI_BASE_URL: openai.baseURL,
    EXPORT_DIR: exportDir,
    FT_POLL_INTERVAL_MS: '200',
    EVAL_HOLDOUT_SIZE: '0',
    PROMOTE_PROBE_DEADLINE_MS: '30000',
    LOG_LEVEL: 'info',
  }
  const config = loadConfig({
    ...appEnv,
    LOG_LEVEL: 'warn',
    EVAL_GOLD_PATH: resolve(ROOT, 'evals/gold.jsonl'),
  })
  const logger = createLogger({ level: 'warn', name: 'demo' })
  cleanups.push(async () => {
    // The demo's queues live under their own prefix: remove them so Redis is left as it was.
    for (const name of ALL_QUEUES) {
      const q = createQueue(name, { config })
      await q.obliterate({ force: true }).catch(() => {})
      await q.close()
    }
  })
  const selected: Array<{ model: string; reason: string; raw: string }> = []
  const gw: GatewayProc = await spawnGateway('gateway', appEnv, {
    port: Number(env.PORT ?? 0) || undefined,
    adminToken,
    onLine: (l) => {
      if (l.msg === 'Selected Model')
        selected.push({ model: String(l.model), reason: String(l.reason), raw: JSON.stringify(l) })
    },
  })
  cleanups.push(() => gw.stop())
  say(`  gateway ${gw.url} (a child process), openai-local ${openai.baseURL}, database ${pgDir}`)

  step('importing the shop’s past staff-answered DMs (scripts/demo/staff-history.jsonl)')
  const staff = readFileSync(resolve(ROOT, 'scripts/demo/staff-history.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { topic: string; questions: string[]; answer: string })
  // The same importer as `npm run import:history` (one JSON object per message).
  const t0 = Date.now() - 7 * 24 * 3600_000
  const history = staff.flatMap((s, i) =>
    s.questions.flatMap((q, k) => {
      const at = t0 + (i * 10 + k) * 60_000
      const igUserId = `import-${i}-${k}`
      return [
        JSON.stringify({ igUserId, role: 'user', text: q, timestamp: at }),
        JSON.stringify({
          igUserId,
          role: 'assistant',
          text: s.answer,
          timestamp: at + 30_000,
          author: 'staff',
        }),
      ]
    }),
  )
  const report = await importHistory({ conversations: createConversationRepository(pool), lines: history })
  if (report.invalid.length > 0) throw new Error(`demo history: ${JSON.stringify(report.invalid[0])}`)
  const imported = report.imported / 2
  say(`  ${imported} past exchanges imported (paraphrases of shop questions, answered by Mira and Jonas)`)

  step('200 signed DMs from 20 customers through the real webhook; the bot answers')
  const mids: string[] = []
  let failed = 0
  await Promise.all(
    Array.from({ length: 20 }, async (_, u) => {
      const user = `igsid-demo-${id}-${u}`
      for (const text of liveDmsFor(u, 10)) {
        const r = await sendDm(gw.url, { user, text })
        if (r.status === 200) mids.push(r.mid)
        else failed++
        await sleep(20)
      }
    }),
  )
  const deadline = Date.now() + 90_000
  let answered = 0
  for (;;) {
    const r = await pool.query<{ n: number }>(
      'select count(distinct mid)::int as n from outbox where mid = any($1) and part = 0',
      [mids],
    )
    answered = r.rows[0]?.n ?? 0
    if (answered >= mids.length || Date.now() > deadline) break
    await sleep(250)
  }
  const baseReplies = selected.filter((s) => s.model === config.models.base).length
  say(
    `  ${mids.length} DMs accepted (${failed} failed), ${answered} answered — by ${config.models.base} (${baseReplies} × “Selected Model”)`,
  )

  step('export: conversations → PII-redacted fine-tuning JSONL')
  const exporter = createExportService({ db: pool, config, logger, exportDir })
  const ex = await exporter.run({ trigger: 'demo', dryRun: false })
  const piiTotal = Object.values(ex.pii).reduce((a, b) => a + (b ?? 0), 0)
  say(
    `  ${ex.examples} examples from ${ex.rowsRead} rows → ${ex.files.map((f) => f.replace(`${ROOT}/`, '')).join(', ')}`,
  )
  say(
    `  PII replaced: ${piiTotal} (${
      Object.entries(ex.pii)
        .map(([k, v]) => `${k} ${v}`)
        .join(', ') || 'none'
    })`,
  )

  step('tune: validate, count tokens, estimate cost, fine-tune on openai-local')
  const tuner = createTunerDeps({ config, logger, pool })
  cleanups.push(() => tuner.close())
  const tune = await runTune({ trigger: 'demo' }, tuner)
  const jobId = tune.finetune?.providerJobId
  if (!jobId) throw new Error(`tune did not start a job: ${tune.refusal ?? tune.outcome}`)
  say(
    `  ${tune.report.examples} examples, ${tune.report.tokens} tokens, estimate $${tune.estimateUsd.toFixed(4)} → job ${jobId}`,
  )
  let poll = await runPoll({ finetuneJobId: jobId }, tuner)
  while (!poll.done) {
    await sleep(200)
    poll = await runPoll({ finetuneJobId: jobId }, tuner)
  }
  if (poll.status !== 'succeeded' || !poll.fineTunedModel)
    throw new Error(`fine-tune ${poll.status}: ${poll.error}`)
  const ft = poll.fineTunedModel
  say(`  succeeded: ${ft} (trained tokens ${poll.trainedTokens ?? '?'}) — registered as a candidate`)

  step('evaluate: candidate vs current vs base on the gold set (evals/gold.jsonl), then the gate')
  const redis = createRedis({ url: redisUrl })
  cleanups.push(async () => redis.disconnect())
  const ai = createAiClient({ config, logger })
  const evaluation = createEvaluationService({ db: pool, redis, ai, config, logger, concurrency: 6 })
  const ev = await evaluation.evaluate({ candidate: ft, trigger: 'demo' })
  say(ev.table.replace(/^/gm, '  '))
  if (ev.outcome !== 'approved_pending')
    throw new Error(`the gate did not approve the candidate: ${ev.decision.reason}`)

  step('approve (POST /admin/candidates/:id/approve) → probe → promote → hot swap')
  const from = gw.logs.length
  const tApprove = performance.now()
  const ap = await gw.admin(`/admin/candidates/${encodeURIComponent(ft)}/approve`, {
    method: 'POST',
    body: { actor: 'mira', reason: 'gold set +' + ev.decision.delta.toFixed(3) },
  })
  if (ap.status !== 200) throw new Error(`approve failed: ${ap.status} ${JSON.stringify(ap.json)}`)
  const swap = await gw.waitForLog(
    (l) => l.msg === 'active model swapped' && l.version === ap.json.version,
    10_000,
    from,
  )
  const swapMs = swap.at - tApprove
  say(`  promoted ${ft} as version ${ap.json.version} after ${ap.json.probeAttempts} probe attempt(s)`)
  say(
    `  the running gateway uses it ${swapMs.toFixed(1)} ms after the approve request (probe + transaction + publish) — no restart`,
  )

  const ask = async (text: string) => {
    const n = selected.length
    const r = await sendDm(gw.url, { user: `igsid-demo-${id}-asker`, text })
    for (const until = Date.now() + 20_000; Date.now() < until; ) {
      const o = await pool.query<{ text: string; model: string }>(
        'select text, model from outbox where mid = $1 and part = 0',
        [r.mid],
      )
      if (o.rows[0] && selected.length > n) return { ...o.rows[0], selected: selected[selected.length - 1] }
      await sleep(100)
    }
    throw new Error('no reply to the probe DM')
  }
  const q = 'how much does the merino beanie cost please?'
  const a1 = await ask(q)
  say(`  DM “${q}”`)
  say(`  → ${a1.selected?.model} (Selected Model, reason ${a1.selected?.reason}): “${a1.text}”`)
  say(`  gateway log: ${a1.selected?.raw}`)

  step('rollback (POST /admin/models/rollback) and forward again')
  const rb = await gw.admin('/admin/models/rollback', { method: 'POST', body: { actor: 'demo' } })
  await gw.waitForLog((l) => l.msg === 'active model swapped' && l.version === rb.json.version, 10_000, from)
  const a2 = await ask(q)
  say(
    `  rolled back to ${rb.json.model} (v${rb.json.version}) → next DM answered by ${a2.selected?.model}: “${a2.text}”`,
  )
  const fw = await gw.admin('/admin/models/rollback', {
    method: 'POST',
    body: { actor: 'demo', reason: 'forward again' },
  })
  await gw.waitForLog((l) => l.msg === 'active model swapped' && l.version === fw.json.version, 10_000, from)
  const a3 = await ask(q)
  say(`  forward to ${fw.json.model} (v${fw.json.version}) → next DM answered by ${a3.selected?.model}`)
  if (a1.model !== ft || a3.model !== ft || a2.model === ft)
    throw new Error('the gateway did not follow the promotions')

  const active = await createRegistryRepository(pool).findActive()
  say('\n════════ summary ════════')
  say(`imported staff DMs      ${imported}`)
  say(`live DMs                ${mids.length} sent, ${answered} answered, ${failed} failed`)
  say(`examples exported       ${ex.examples} (${ex.bytes} bytes)`)
  say(
    `PII replaced            ${piiTotal} (${
      Object.entries(ex.pii)
        .map(([k, v]) => `${k} ${v}`)
        .join(', ') || 'none'
    })`,
  )
  say(
    `training tokens         ${tune.report.tokens} (trained ${poll.trainedTokens ?? '?'}), cost estimate $${tune.estimateUsd.toFixed(4)}`,
  )
  say(
    `gold score              before ${ev.summaries.current.mean.toFixed(3)} (${ev.current}) → after ${ev.summaries.candidate.mean.toFixed(3)} (Δ ${ev.decision.delta >= 0 ? '+' : ''}${ev.decision.delta.toFixed(3)}), fact recall ${(ev.summaries.current.factRecall * 100).toFixed(0)}% → ${(ev.summaries.candidate.factRecall * 100).toFixed(0)}%`,
  )
  say(`hot swap                ${swapMs.toFixed(1)} ms from approve request to in use on the running gateway`)
  say(`promoted model          ${ft} (active: ${active?.model}, version ${active?.version})`)
  say(`total                   ${elapsed()}`)
}

let code = 0
try {
  await main()
} catch (err) {
  say(`\n✗ demo failed: ${(err as Error).stack ?? err}`)
  code = 1
} finally {
  await cleanup()
}
process.exit(code)
