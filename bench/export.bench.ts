/**
 * Export throughput: 1,000,000 synthetic messages (10,000 users, alternating turns, ~1 in 8 with
 * PII) on a fresh embedded Postgres, exported end to end (keyset pages → pairing → redaction →
 * format checks → daily file + manifest → master append → watermark). The embedded Postgres runs
 * in its own process, as under `npm start`. Baseline: a bare keyset scan of the same rows in the
 * same run (the ceiling the database and the wire protocol set). Curation is on (the defaults):
 * answers are 40% human, 20% imported, 40% bot (1 in 97 of those a fallback), 1 in 40 the same
 * generic line. The exporter runs alone in its own process (bench/export-child.ts) and reports
 * its RSS at start, peak and end; the embedded Postgres's peak is printed beside it.
 *
 * Redaction: our redactPII vs the `redact-pii` npm package (SyncRedactor, its default rules) on the
 * same labelled corpus, rate and recall of both (recall = labelled PII values no longer present).
 */
import { spawn } from 'node:child_process'
import { readFileSync, rmSync } from 'node:fs'
import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { runMigrations } from '@loopdm/db/migrate'
import { createPool } from '@loopdm/db/pool'
import { redactPII } from '@loopdm/training-data/redaction'
import { SyncRedactor } from 'redact-pii'
import { REDACTION_CORPUS } from '../packages/training-data/test/redaction.corpus.js'
import { scoreRedaction } from '../packages/training-data/test/redaction.score.js'
import { APP_NODE_FLAGS } from '../scripts/lib/app-flags.js'
import type { BenchRow } from './harness.js'
import { startPgProcess } from './pg-process.js'

const MESSAGES = Number(process.env.BENCH_EXPORT_MESSAGES ?? 1_000_000)
const USERS = 10_000

interface ChildResult {
  rowsRead: number
  examples: number
  bytes: number
  phaseMs: Record<string, number>
  curation: { included: Record<string, number>; excluded: Record<string, number> }
  secs: number
  cpuSecs: number
  rssStartMb: number
  rssPeakMb: number
  rssEndMb: number
  heapUsedPeakMb: number
  heapLimitMb: number
  externalPeakMb: number
}

/** The exporter's V8 flags: production's (scripts/lib/app-flags.ts) unless BENCH_EXPORT_NODE_FLAGS. */
const childFlags = (process.env.BENCH_EXPORT_NODE_FLAGS ?? APP_NODE_FLAGS.exporter?.join(' ') ?? '')
  .split(' ')
  .filter(Boolean)

/** One nightly export in its own process (bench/export-child.ts). */
function runExporterChild(url: string, dir: string): Promise<ChildResult> {
  return new Promise((res, rej) => {
    const child = spawn(
      process.execPath,
      [...childFlags, '--import', 'tsx', join(import.meta.dirname, 'export-child.ts')],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
        env: { ...process.env, BENCH_DB_URL: url, BENCH_EXPORT_DIR: dir },
      },
    )
    let out = ''
    child.stdout?.on('data', (d) => {
      out += d
    })
    child.once('exit', (code) => {
      const m = /RESULT (.+)/.exec(out)
      if (m) res(JSON.parse(m[1] as string) as ChildResult)
      else rej(new Error(`exporter child exited ${code}: ${out}`))
    })
  })
}

function rssKb(pid: number): number {
  try {
    const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))
    return m ? Number(m[1]) : 0
  } catch {
    return 0
  }
}

async function exportThroughput(): Promise<BenchRow[]> {
  const pg = await startPgProcess()
  const pool = createPool({ connectionString: pg.url, max: 4 })
  const dir = await mkdtemp(join(tmpdir(), 'export-bench-'))
  try {
    await runMigrations(pool)
    const tInsert = performance.now()
    const chunk = 200_000
    for (let from = 0; from < MESSAGES; from += chunk) {
      // Row i: user i % USERS, turn i / USERS (even: user, odd: assistant), 1 ms apart.
      await pool.query(
        `insert into conversation_messages (ig_user_id, role, content, author, route_reason, created_at)
         select 'bench-' || (i % ${USERS}), x.role,
                case when x.role = 'assistant' and i % 40 = 1 then
                       'Thanks for your message! A team member will get back to you soon.'
                     when x.role = 'assistant' then
                       case i % 4
                         when 0 then 'Yes! Shipping takes 3-5 days, order #' || i || ' is on its way.'
                         when 1 then 'We open at 10:30 tomorrow, ask for desk ' || i || ' :)'
                         when 2 then 'Returns are free within 30 days (case ' || i || '), keep the receipt.'
                         else 'Sure, the blue one (ref ' || i || ') is back in stock in all sizes.'
                       end
                     else
                       case i % 4
                         when 0 then 'hi, my email is user' || i || '@example.com, do you ship to Vienna?'
                         when 1 then 'Do you have the linen dress in size ' || (34 + i % 10) || '? It was €49.99 #' || i
                         when 2 then 'call me on +49 151 ' || lpad((i % 10000000)::text, 7, '0') || ' please'
                         else 'thanks a lot, I will come by on 2024-05-01 (' || i || ')'
                       end
                end,
                case when x.role = 'user' then null
                     when i % 5 in (0, 1) then 'human' when i % 5 = 2 then 'import' else 'bot' end,
                case when x.role = 'assistant' and i % 5 > 2 then
                       case when i % 97 = 0 then 'fallback' else 'active' end end,
                timestamptz '2026-01-01' + i * interval '1 millisecond'
           from generate_series($1::int, $2::int) as i,
                lateral (select case when (i / ${USERS}) % 2 = 0 then 'user' else 'assistant' end as role) x`,
        [from, Math.min(MESSAGES, from + chunk) - 1],
      )
    }
    const insertMs = performance.now() - tInsert

    // Baseline: the same keyset pages with nothing done to the rows.
    const tScan = performance.now()
    let after: { c: string; id: number } | undefined
    let scanned = 0
    for (;;) {
      const r = await pool.query<{ id: number; c: string }>(
        `select id, ig_user_id, role, content, has_image, created_at::text as c from conversation_messages
          where ($1::timestamptz is null or (created_at, id) > ($1::timestamptz, $2::bigint))
          order by created_at, id limit 5000`,
        [after?.c ?? null, after?.id ?? 0],
      )
      if (r.rows.length === 0) break
      scanned += r.rows.length
      const l = r.rows[r.rows.length - 1] as { id: number; c: string }
      after = { c: l.c, id: l.id }
    }
    const scanRate = scanned / ((performance.now() - tScan) / 1000)

    const r = await runExporterChild(pg.url, dir)
    const rate = r.rowsRead / r.secs
    const dbRssMb = rssKb(pg.child.pid as number) / 1024
    const c = r.curation
    return [
      {
        // Issue 16's target on its own row (baseline = the target, as the RSS row).
        name: `export throughput with curation (${(MESSAGES / 1e6).toFixed(1)}M msgs)`,
        value: rate,
        baseline: 50_000,
        unit: 'msg/s',
        better: 'higher',
        target: '≥ 50000 msg/s',
        note: `${r.secs.toFixed(1)} s; the run's details are on the next row`,
      },
      {
        name: `export with curation (${(MESSAGES / 1e6).toFixed(1)}M msgs) vs bare keyset scan`,
        value: rate,
        baseline: scanRate,
        unit: 'msg/s',
        better: 'higher',
        target: 'ratio ≥ 0.4',
        note: `${r.examples} examples (human ${c.included.human}, import ${c.included.import}, bot ${c.included.bot}; excluded ${JSON.stringify(c.excluded)}), ${(r.bytes / 1e6).toFixed(1)} MB, ${r.secs.toFixed(1)} s (phases ms ${JSON.stringify(r.phaseMs)}), exporter CPU ${r.cpuSecs.toFixed(1)} s = ${Math.round(r.rowsRead / r.cpuSecs)} msg/CPU-s (the machine is shared: wall-clock figures vary with load); insert ${(insertMs / 1000).toFixed(1)} s; embedded PG process peak ${dbRssMb.toFixed(0)} MB`,
      },
      {
        name: `exporter process peak RSS (${(MESSAGES / 1e6).toFixed(1)}M msgs)`,
        value: r.rssPeakMb,
        baseline: 250,
        unit: 'MB',
        better: 'lower',
        target: '≤ 250 MB',
        note: `RSS start ${r.rssStartMb} MB, peak ${r.rssPeakMb} MB, end ${r.rssEndMb} MB; sampled peaks: V8 heap used ${r.heapUsedPeakMb} MB (limit ${r.heapLimitMb} MB), external ${r.externalPeakMb} MB (the exporter alone in its own process, node flags "${childFlags.join(' ')}"; baseline = the target)`,
      },
    ]
  } finally {
    await pool.end()
    await pg.close()
    rmSync(dir, { recursive: true, force: true })
  }
}

function redactionRate(): BenchRow[] {
  const texts = REDACTION_CORPUS.map((c) => c.text)
  const N = 20_000
  const theirs = new SyncRedactor()
  const time = (fn: (s: string) => unknown, n: number) => {
    const t = performance.now()
    for (let i = 0; i < n; i++) fn(texts[i % texts.length] as string)
    return n / ((performance.now() - t) / 1000)
  }
  time(redactPII, 2000)
  time((s) => theirs.redact(s), 500)
  const ours = time(redactPII, N)
  const base = time((s) => theirs.redact(s), Math.min(N, 5000))
  const valueRecall = (redact: (s: string) => string) => {
    let hit = 0
    let all = 0
    let kept = 0
    let keepAll = 0
    for (const c of REDACTION_CORPUS) {
      const out = redact(c.text)
      for (const [, v] of c.pii) {
        all++
        if (!out.includes(v)) hit++
      }
      for (const k of c.keep ?? []) {
        keepAll++
        if (out.includes(k)) kept++
      }
    }
    return { recall: hit / all, keep: kept / keepAll }
  }
  const o = valueRecall((s) => redactPII(s).text)
  const t = valueRecall((s) => theirs.redact(s))
  const typed = scoreRedaction(REDACTION_CORPUS)
  return [
    {
      name: 'redaction rate: redactPII vs redact-pii',
      value: ours,
      baseline: base,
      unit: 'msg/s',
      better: 'higher',
      note: `recall ours ${o.recall.toFixed(3)} vs redact-pii ${t.recall.toFixed(3)}; look-alikes kept ours ${o.keep.toFixed(3)} vs redact-pii ${t.keep.toFixed(3)}; typed score ours recall ${typed.recall.toFixed(3)} precision ${typed.precision.toFixed(3)} (${REDACTION_CORPUS.length} cases)`,
    },
  ]
}

export default async function exportBench(): Promise<BenchRow[]> {
  const rows = redactionRate()
  return [...(await exportThroughput()), ...rows]
}
