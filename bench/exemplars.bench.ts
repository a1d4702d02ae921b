/**
 * The exemplar learner on the reply path: what retrieving demonstrations adds to a reply, at
 * 10,000 and 100,000 exemplars in the active set, against a reply without exemplars in the same run.
 *
 * Both arms make the reply completion on openai-local (real HTTP, the router's request). The
 * exemplar arm first does what services/exemplars.ts does — embed the live message (HTTP) and take
 * the set's top EXEMPLAR_TOP_K through the store's HNSW path (iterative scan, set filter), packed
 * into EXEMPLAR_MAX_TOKENS — then sends the demonstrations with the completion. The gateway runs
 * the lookup in parallel with memory recall; here it runs in series, an upper bound.
 *
 * Data: two sets (BENCH_EXEMPLAR_SIZES, default "10000,100000") of synthetic 1536-d unit vectors
 * built in SQL from shared random bases (as bench/recall.bench.ts), bulk-loaded and indexed once
 * with BENCH_HNSW_M / BENCH_HNSW_EFC (default 8 / 24; PGlite builds HNSW on one WASM core).
 * Queries are one of the set's own vectors plus noise (a paraphrase of a known question).
 */
import { startEmbeddedPostgres } from '@loopdm/db/embedded'
import { runMigrations } from '@loopdm/db/migrate'
import { createPool } from '@loopdm/db/pool'
import { createExemplarPrompter } from '@loopdm/models/exemplar-prompt'
import { startOpenAILocal } from '@loopdm/openai-local/server'
import { completionLimit } from '@loopdm/platform/capabilities'
import { loadConfig } from '@loopdm/platform/config'
import { createAiClient } from '@loopdm/platform/openai'
import { type BenchRow, percentile, timeMany } from './harness.js'

const D = 1536
const SIZES = (process.env.BENCH_EXEMPLAR_SIZES ?? '10000,100000').split(',').map(Number)
const M = Number(process.env.BENCH_HNSW_M ?? 8)
const EFC = Number(process.env.BENCH_HNSW_EFC ?? 24)
const QUERIES = Number(process.env.BENCH_EXEMPLAR_QUERIES ?? 100)
const BASES = { topic: 200, noise: 997 } as const

let seed = 7
const rand = () => {
  seed = (seed * 1664525 + 1013904223) >>> 0
  return seed / 2 ** 32
}
const randVec = (scale: number) => Array.from({ length: D }, () => (rand() * 2 - 1) * scale)
const normalise = (v: number[]) => {
  const n = Math.sqrt(v.reduce((a, x) => a + x * x, 0))
  return v.map((x) => x / n)
}

export default async function exemplarsBench(): Promise<BenchRow[]> {
  const t0 = performance.now()
  const pg = await startEmbeddedPostgres({ port: 0 })
  const pool = createPool({ connectionString: pg.url, max: 2 })
  const openai = await startOpenAILocal({ port: 0 })
  try {
    await runMigrations(pool)
    const config = loadConfig({ DATABASE_URL: pg.url, OPENAI_BASE_URL: openai.baseURL, LOG_LEVEL: 'silent' })
    const ai = createAiClient({ config })
    const topic = Array.from({ length: BASES.topic }, () => randVec(1))
    const noise = Array.from({ length: BASES.noise }, () => randVec(0.6))
    await pool.query('create table bench_base (kind text, id int, v vector(1536))')
    for (const [kind, vs] of [
      ['topic', topic],
      ['noise', noise],
    ] as const)
      for (let i = 0; i < vs.length; i += 50) {
        const ids = vs.slice(i, i + 50).map((_, j) => i + j)
        await pool.query('insert into bench_base select $1, unnest($2::int[]), unnest($3::text[])::vector', [
          kind,
          ids,
          ids.map((id) => `[${(vs[id] as number[]).join(',')}]`),
        ])
      }
    // Bulk-load every set, then build the index once (as a rebuild after a large import would).
    await pool.query('drop index if exists exemplars_embedding_idx')
    const sets: Array<{ id: number; n: number }> = []
    for (const n of SIZES) {
      const s = await pool.query<{ id: number }>(
        `insert into exemplar_sets (content_hash, status, embedding_model, examples, tokens, ready_at)
         values ($1, 'ready', 'text-embedding-3-small', $2, $2 * 60, now()) returning id::int8 as id`,
        [`bench-${n}-${Date.now()}`, n],
      )
      const id = Number(s.rows[0]?.id)
      await pool.query(
        `insert into exemplars (set_id, user_key, prompt, answer, tokens, embedding)
         select $1, 'u' || (g % 5000), 'do you have item ' || g || ' in stock in size m please',
                'Yes! Item ' || g || ' is in stock in M, €' || (g % 90 + 10) || ', ships in 2 days.', 60,
                l2_normalize(t.v + z.v)
           from generate_series(1, $2) g
           join bench_base t on t.kind = 'topic' and t.id = (g * 7919) % ${BASES.topic}
           join bench_base z on z.kind = 'noise' and z.id = (g * 31) % ${BASES.noise}`,
        [id, n],
      )
      sets.push({ id, n })
    }
    const loadedMs = performance.now() - t0
    await pool.query("set maintenance_work_mem = '1GB'")
    const tb = performance.now()
    await pool.query(
      `create index exemplars_embedding_idx on exemplars using hnsw (embedding vector_cosine_ops)
         with (m = ${M}, ef_construction = ${EFC})`,
    )
    const buildMs = performance.now() - tb
    await pool.query('analyze exemplars')

    const ex = config.learning.exemplars
    // minScore −1: every query gets its top-k, so the packing and the longer prompt are measured too.
    const prompter = createExemplarPrompter({
      db: pool,
      topK: ex.topK,
      minScore: -1,
      maxTokens: ex.maxTokens,
    })
    const live = 'hi, do you have the wool scarf in stock in size m?'
    const system = { role: 'system' as const, content: config.models.systemPrompt }
    const complete = (messages: Array<{ role: 'system' | 'user' | 'assistant'; content: string }>) =>
      ai.chat(
        { model: config.models.base, messages, ...completionLimit(config.models.base, 400) },
        { purpose: 'reply', maxRetries: 0, timeoutMs: 10_000 },
      )
    const rows: BenchRow[] = []
    let demosPerReply = 0
    for (const set of sets) {
      const queries = Array.from({ length: QUERIES }, () => {
        const g = 1 + Math.floor(rand() * set.n)
        const base = (topic[(g * 7919) % BASES.topic] as number[]).map(
          (x, i) => x + (noise[(g * 31) % BASES.noise] as number[])[i]! + (rand() * 2 - 1) * 0.3,
        )
        return normalise(base)
      })
      // Warm both paths (connections, the set-size cache, JIT), then interleave the arms.
      await complete([system, { role: 'user', content: live }])
      await prompter.demonstrations({ setId: set.id, vector: queries[0] as number[] })
      const withoutMs: number[] = []
      const withMs: number[] = []
      const lookupMs: number[] = []
      for (let i = 0; i < QUERIES; i++) {
        withoutMs.push(...(await timeMany(1, () => complete([system, { role: 'user', content: live }]))))
        const t = performance.now()
        const [, demos] = await Promise.all([
          ai.embed([live], { purpose: 'exemplars', maxRetries: 0 }),
          prompter.demonstrations({ setId: set.id, vector: queries[i] as number[] }),
        ])
        lookupMs.push(performance.now() - t)
        demosPerReply += demos.ids.length / (QUERIES * sets.length)
        await complete([system, ...demos.messages, { role: 'user', content: live }])
        withMs.push(performance.now() - t)
      }
      for (const xs of [withoutMs, withMs, lookupMs]) xs.sort((a, b) => a - b)
      const label = `${set.n.toLocaleString('en')} exemplars`
      rows.push(
        {
          name: `reply p50 with vs without exemplars, ${label}`,
          value: percentile(withMs, 50),
          baseline: percentile(withoutMs, 50),
          unit: 'ms',
          better: 'lower',
          note: `lookup alone (embed ∥ top-${ex.topK} HNSW search + packing) p50 ${percentile(lookupMs, 50).toFixed(2)} ms, p99 ${percentile(lookupMs, 99).toFixed(2)} ms; added p50 ${(percentile(withMs, 50) - percentile(withoutMs, 50)).toFixed(2)} ms`,
        },
        {
          name: `reply p99 with vs without exemplars, ${label}`,
          value: percentile(withMs, 99),
          baseline: percentile(withoutMs, 99),
          unit: 'ms',
          better: 'lower',
          note: `added p99 ${(percentile(withMs, 99) - percentile(withoutMs, 99)).toFixed(2)} ms`,
        },
      )
    }
    const first = rows[0]
    if (first)
      first.note = `${first.note}; ${demosPerReply.toFixed(1)} demonstrations per reply; ${SIZES.join(' + ')} exemplars loaded in ${(loadedMs / 1000).toFixed(0)} s, HNSW (m=${M}, ef_construction=${EFC}) built in ${(buildMs / 1000).toFixed(0)} s, bench ${Math.round((performance.now() - t0) / 1000)} s`
    return rows
  } finally {
    await pool.end().catch(() => {})
    await openai.close()
    await pg.close()
  }
}
