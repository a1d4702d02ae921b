/**
 * `npm run demo`: the whole loop once, on the embedded defaults, from an empty database.
 *
 * Linden & Loom (evals/shop.md) imports its past staff-answered DMs, then ~200 signed DMs from 20
 * customers go through a real gateway process and the bot (BASE_MODEL) answers them. Then:
 * export (PII-redacted JSONL) → learn (default: build an exemplar set; `--learner fine-tune`: an
 * openai-local fine-tune) → evaluate (gold set, gate) → approve (admin API) → promote → the running
 * gateway switches to the new policy without a restart → rollback → forward again. Prints a
 * summary (learner, promoted policy, gold score before → after, cost per reply) and exits 0.
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
import { formatReport } from '@loopdm/exporter/services/export-report'
import { createConversationRepository } from '@loopdm/gateway/repositories/conversation.repository'
import { importHistory } from '@loopdm/gateway/services/history-import'
import { createCostLedger } from '@loopdm/models/cost-ledger'
import { createRegistryRepository } from '@loopdm/models/registry'
import { startOpenAILocal } from '@loopdm/openai-local/server'
import { COPY_TRAINER_COMMAND, loadConfig } from '@loopdm/platform/config'
import { createLogger } from '@loopdm/platform/logger'
import { createAiClient } from '@loopdm/platform/openai'
import { createQueue } from '@loopdm/queues/bullmq'
import { ALL_QUEUES } from '@loopdm/queues/contracts'
import { assertRedis, createRedis } from '@loopdm/redis/client'
import { type GatewayProc, sendDm, spawnGateway } from '@loopdm/testing/gateway-proc'
import { createTunerDeps } from '@loopdm/tuner/jobs/tune.worker'
import { learn } from './demo/learn.js'
import { liveDmsFor } from './demo/live-dms.js'
import { parseArgs, ROOT, say } from './lib/cli.js'

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
const learnerFlag = parseArgs(process.argv.slice(2)).flags.learner ?? env.LEARNING_BACKEND ?? 'exemplars'
if (learnerFlag !== 'exemplars' && learnerFlag !== 'fine-tune') {
  say(`--learner must be exemplars or fine-tune, got ${String(learnerFlag)}`)
  process.exit(2)
}
const learner: 'exemplars' | 'fine-tune' = learnerFlag

type DemoProvider = 'openai' | 'together' | 'vllm'

/**
 * `--provider openai|together|vllm` (default openai; with `--learner fine-tune`): who trains.
 * Every one is emulated by openai-local — Together's fine-tuning API, or vLLM's runtime LoRA API
 * fed by the copy trainer (scripts/trainers/copy-trainer.mjs) — so the demo stays offline.
 */
function providerArg(flags: Record<string, string | true>): DemoProvider {
  const v = flags.provider ?? 'openai'
  if (v === 'openai' || v === 'together' || v === 'vllm') return v
  say(`--provider must be openai, together or vllm, got ${String(v)}`)
  process.exit(2)
}

/** The environment that points FT_PROVIDER at openai-local's emulation of it. */
function providerEnv(
  provider: DemoProvider,
  local: { url: string; togetherBaseURL: string },
): Record<string, string> {
  if (provider === 'together') return { FT_PROVIDER: 'together', TOGETHER_BASE_URL: local.togetherBaseURL }
  if (provider === 'vllm')
    return {
      FT_PROVIDER: 'vllm',
      VLLM_BASE_URL: local.url,
      VLLM_ADAPTER_DIR: resolve(exportDir, '..', `adapters-${id}`),
      TRAINER_COMMAND: COPY_TRAINER_COMMAND,
    }
  return { FT_PROVIDER: 'openai' }
}

const provider = providerArg(parseArgs(process.argv.slice(2)).flags)

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
    LEARNING_BACKEND: learner,
    ...providerEnv(provider, openai),
  }
  const adapters = appEnv.VLLM_ADAPTER_DIR
  if (adapters) cleanups.push(async () => rmSync(adapters, { recursive: true, force: true }))
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
  const selected: Array<{ model: string; reason: string; policy: number | null; raw: string }> = []
  const gw: GatewayProc = await spawnGateway('gateway', appEnv, {
    port: Number(env.PORT ?? 0) || undefined,
    adminToken,
    onLine: (l) => {
      if (l.msg === 'Selected Model')
        selected.push({
          model: String(l.model),
          reason: String(l.reason),
          policy: typeof l.policy === 'number' ? l.policy : null,
          raw: JSON.stringify(l),
        })
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
  // Curation: which answers became examples (by source) and why the others did not.
  for (const l of formatReport(ex.curation)) say(l)
  say(
    `  PII replaced: ${piiTotal} (${
      Object.entries(ex.pii)
        .map(([k, v]) => `${k} ${v}`)
        .join(', ') || 'none'
    })`,
  )

  step(
    learner === 'exemplars'
      ? 'learn (exemplars): embed every exported exchange into a new exemplar set (pgvector, one transaction)'
      : `learn (fine-tune): validate, count tokens, estimate cost, fine-tune (FT_PROVIDER=${provider}, emulated by openai-local)`,
  )
  const tuner = createTunerDeps({ config, logger, pool })
  cleanups.push(() => tuner.close())
  const learned = await learn(learner, tuner)
  const ft = learned.candidate

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
  const promotedId = ap.json.policy?.id as number | undefined
  const answeredBy = (a: { selected?: { policy: number | null } }) => a.selected?.policy ?? null
  if (answeredBy(a1) !== promotedId || answeredBy(a3) !== promotedId || answeredBy(a2) === promotedId)
    throw new Error('the gateway did not follow the promotions')
  const cost = await costPerReply(pool, config)

  const active = await createRegistryRepository(pool).findActive()
  say('\n════════ summary ════════')
  say(`imported staff DMs      ${imported}`)
  say(`live DMs                ${mids.length} sent, ${answered} answered, ${failed} failed`)
  const inc = ex.curation.included
  say(
    `examples exported       ${ex.examples} (${ex.bytes} bytes): human ${inc.human}, import ${inc.import}, bot ${inc.bot}; excluded ${
      Object.entries(ex.curation.excluded)
        .map(([k, n]) => `${k} ${n}`)
        .join(', ') || 'none'
    }`,
  )
  say(
    `PII replaced            ${piiTotal} (${
      Object.entries(ex.pii)
        .map(([k, v]) => `${k} ${v}`)
        .join(', ') || 'none'
    })`,
  )
  say(`learner                 ${learner}: ${learned.summary}`)
  say(
    `gold score              before ${ev.summaries.current.mean.toFixed(3)} (${ev.current}) → after ${ev.summaries.candidate.mean.toFixed(3)} (Δ ${ev.decision.delta >= 0 ? '+' : ''}${ev.decision.delta.toFixed(3)}), fact recall ${(ev.summaries.current.factRecall * 100).toFixed(0)}% → ${(ev.summaries.candidate.factRecall * 100).toFixed(0)}%`,
  )
  say(`hot swap                ${swapMs.toFixed(1)} ms from approve request to in use on the running gateway`)
  say(
    `promoted policy         ${ft} (id ${promotedId}, learner ${learner}, serving ${ap.json.policy?.servingModel}; active: ${active?.model}, version ${active?.version})`,
  )
  say(
    `cost per reply          $${cost.perReply.toFixed(6)} (mean of ${cost.replies} replies); demonstrations add ${cost.exemplarTokensPerReply.toFixed(0)} prompt tokens ≈ $${cost.exemplarsPerReply.toFixed(6)} to each of the ${cost.exemplarReplies} replies that used them`,
  )
  if (learner === 'fine-tune') say(`fine-tune provider      ${provider}`)
  say(`total                   ${elapsed()}`)
}

/** Reply cost from the cost ledger: chat `reply` rows, and the demonstrations' attributed tokens. */
async function costPerReply(pool: ReturnType<typeof createPool>, config: ReturnType<typeof loadConfig>) {
  const r = await pool.query<{
    replies: number
    usd: string
    ex_rows: number
    ex_tokens: number
    ex_model: string | null
  }>(
    `select (select count(*)::int from cost_ledger where operation = 'chat' and purpose = 'reply') as replies,
            (select coalesce(sum(cost_usd), 0)::text from cost_ledger where operation = 'chat' and purpose = 'reply') as usd,
            (select count(*)::int from cost_ledger where operation = 'exemplars') as ex_rows,
            (select coalesce(sum(prompt_tokens), 0)::int from cost_ledger where operation = 'exemplars') as ex_tokens,
            (select max(model) from cost_ledger where operation = 'exemplars') as ex_model`,
  )
  const row = r.rows[0] ?? { replies: 0, usd: '0', ex_rows: 0, ex_tokens: 0, ex_model: null }
  const ledger = createCostLedger({ db: pool, prices: config.openai.prices })
  const exUsd = row.ex_model ? ledger.attributedUsd(row.ex_model, row.ex_tokens) : 0
  return {
    replies: row.replies,
    perReply: row.replies ? Number(row.usd) / row.replies : 0,
    exemplarReplies: row.ex_rows,
    exemplarsPerReply: row.ex_rows ? exUsd / row.ex_rows : 0,
    exemplarTokensPerReply: row.ex_rows ? row.ex_tokens / row.ex_rows : 0,
  }
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
