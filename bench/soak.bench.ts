/**
 * Soak (issue 17, "Proving it"): 3 gateway processes on a private, persistent redis-server, a
 * stream of signed DMs from 200 users, and in the middle a provider outage (openai-local 503s),
 * a Redis restart (SIGKILL + start, append-only file) and a gateway SIGKILL. A webhook that does
 * not answer 200 is re-delivered with the same mid, as Meta does. Prints DMs sent, answered once,
 * answered twice, never answered, expired and "maybe sent" parts — target 0 twice, 0 never, 0
 * expired (duplicates only where a part was counted maybe sent).
 *
 * BENCH_SOAK_DMS (600), BENCH_SOAK_USERS (200), BENCH_SOAK_STREAM_MS (75 000),
 * BENCH_SOAK_OUTAGE_MS (60 000, from 20 % of the stream; the figure is 300 000), BENCH_SOAK_REDIS_DOWN_MS (2 000),
 * BENCH_SOAK_DRAIN_MS (90 000: how long to wait for the backlog after the stream). Every loop is
 * bounded by these.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startEmbeddedPostgres } from '@loopdm/db/embedded'
import { runMigrations } from '@loopdm/db/migrate'
import { createPool, type Pool } from '@loopdm/db/pool'
import { startOpenAILocal } from '@loopdm/openai-local/server'
import { startPrivateRedis } from '@loopdm/redis/private-redis'
import { startFakeGraph } from '@loopdm/testing/fake-graph'
import { type GatewayProc, sendDm, spawnGateway } from '@loopdm/testing/gateway-proc'
import { newMid } from '@loopdm/testing/webhook'
import type { BenchRow } from './harness.js'

const envNum = (name: string, dflt: number) => {
  const v = Number(process.env[name])
  return Number.isFinite(v) && v > 0 ? v : dflt
}
const DMS = envNum('BENCH_SOAK_DMS', 600)
const USERS = envNum('BENCH_SOAK_USERS', 200)
const STREAM_MS = envNum('BENCH_SOAK_STREAM_MS', 75_000)
const OUTAGE_MS = envNum('BENCH_SOAK_OUTAGE_MS', 60_000)
const REDIS_DOWN_MS = envNum('BENCH_SOAK_REDIS_DOWN_MS', 2000)
const DRAIN_MS = envNum('BENCH_SOAK_DRAIN_MS', 90_000)
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** Webhook deliveries that did not get a 2xx (Redis down, gateway killed) and were re-delivered. */
let redeliveries = 0

interface Sent {
  mid: string
  user: string
}

/** Delivers one DM like Meta: re-delivers (same mid) until a 2xx, bounded by `deadline`. */
async function deliver(gws: () => GatewayProc[], dm: Sent, i: number, deadline: number): Promise<boolean> {
  for (let k = 0; Date.now() < deadline; k++) {
    const live = gws()
    const gw = live[(i + k) % live.length]
    if (!gw) return false
    const status = await sendDm(gw.url, { user: dm.user, mid: dm.mid, text: `soak question ${i}` })
      .then((r) => r.status)
      .catch(() => 0)
    if (status >= 200 && status < 300) return true
    redeliveries++
    await sleep(Math.min(200 * 2 ** k, 2000))
  }
  return false
}

async function tally(pool: Pool, sent: Sent[], graph: Awaited<ReturnType<typeof startFakeGraph>>) {
  const r = await pool.query<{ mid: string; ig_user_id: string; status: string }>(
    'select mid, ig_user_id, status from outbox where mid = any($1)',
    [sent.map((s) => s.mid)],
  )
  const byMid = new Map<string, string[]>()
  for (const row of r.rows) byMid.set(row.mid, [...(byMid.get(row.mid) ?? []), row.status])
  let answered = 0
  let never = 0
  let expired = 0
  let maybeSent = 0
  const partsByUser = new Map<string, number>()
  for (const s of sent) {
    const st = byMid.get(s.mid) ?? []
    maybeSent += st.filter((x) => x === 'unknown').length
    if (st.includes('expired')) expired++
    else if (st.length > 0 && st.every((x) => x === 'sent' || x === 'unknown')) answered++
    else never++
    partsByUser.set(
      s.user,
      (partsByUser.get(s.user) ?? 0) + st.filter((x) => x === 'sent' || x === 'unknown').length,
    )
  }
  // A part Meta got twice: more sends to a user than parts recorded for that user.
  let twice = 0
  for (const [user, parts] of partsByUser) twice += Math.max(0, graph.sendsTo(user).length - parts)
  return { answered, never, expired, maybeSent, twice, settled: answered + expired }
}

export default async function soakBench(): Promise<BenchRow[]> {
  process.stdout.write(
    `soak: ${DMS} DMs from ${USERS} users over ${STREAM_MS} ms; provider outage ${OUTAGE_MS} ms, Redis down ${REDIS_DOWN_MS} ms, one gateway SIGKILLed\n`,
  )
  const dataDir = mkdtempSync(join(tmpdir(), 'loopdm-soak-'))
  const embedded = await startEmbeddedPostgres({ port: 0 })
  const pool = createPool({ connectionString: embedded.url, max: 4 })
  await runMigrations(pool)
  const openai = await startOpenAILocal({ port: 0, ftStepMs: 10 })
  const graph = await startFakeGraph()
  const redis = await startPrivateRedis({ persistDir: dataDir })
  const env = {
    DATABASE_URL: embedded.url,
    REDIS_URL: redis.url,
    QUEUE_PREFIX: 'soak',
    MODEL_CHANNEL: 'soak:model:active',
    OPENAI_BASE_URL: openai.baseURL,
    OPENAI_MAX_RETRIES: '0',
    IG_ACCESS_TOKEN: 'soak-token',
    IG_GRAPH_BASE_URL: graph.baseUrl,
    MEMORY_ENABLED: 'false',
    LOG_LEVEL: 'warn',
    DM_RETRY_MAX_DELAY_MS: '5000',
    DM_REDRIVE_INTERVAL_MS: '1000',
    DM_JOB_LOCK_MS: '5000',
  }
  let gws: GatewayProc[] = []
  const t0 = performance.now()
  try {
    gws = await Promise.all(['s1', 's2', 's3'].map((n) => spawnGateway(n, { ...env, LOG_LEVEL: 'info' })))
    const users = Array.from({ length: USERS }, (_, i) => `soak-user-${i}`)
    const sent: Sent[] = Array.from({ length: DMS }, (_, i) => ({
      mid: newMid(),
      user: users[i % USERS] as string,
    }))
    const accepted: boolean[] = []
    const start = Date.now()
    const faults = (async () => {
      await sleep(STREAM_MS * 0.2)
      openai.faults.failNext(1e9, 503)
      await sleep(OUTAGE_MS)
      openai.faults.reset()
    })()
    const chaos = (async () => {
      await sleep(STREAM_MS * 0.4)
      await redis.stop()
      await sleep(REDIS_DOWN_MS)
      await redis.start()
      await sleep(STREAM_MS * 0.2)
      const victim = gws[2]
      gws = gws.slice(0, 2)
      await victim?.kill()
    })()
    const deadline = start + STREAM_MS + DRAIN_MS
    const inflight: Promise<void>[] = []
    for (let i = 0; i < DMS; i++) {
      const due = start + (i * STREAM_MS) / DMS
      if (due > Date.now()) await sleep(due - Date.now())
      inflight.push(
        deliver(() => gws, sent[i] as Sent, i, deadline).then((ok) => {
          accepted[i] = ok
        }),
      )
    }
    await Promise.all([...inflight, faults, chaos])
    const took = sent.filter((_, i) => accepted[i])
    let t = await tally(pool, took, graph)
    while (t.settled < took.length && Date.now() < deadline) {
      await sleep(1000)
      t = await tally(pool, took, graph)
    }
    const wall = (performance.now() - t0) / 1000
    const note = `sent ${DMS}, accepted ${took.length}, answered once ${t.answered - t.twice}, answered twice ${t.twice}, never answered ${t.never}, expired ${t.expired}, maybe sent ${t.maybeSent}; webhook re-deliveries ${redeliveries}; outage ${OUTAGE_MS} ms; ${wall.toFixed(0)} s`
    process.stdout.write(`soak: ${note}\n`)
    return [
      {
        name: 'soak: DMs never answered',
        value: t.never + (DMS - took.length),
        baseline: DMS,
        unit: 'DMs',
        better: 'lower',
        target: '0',
        note,
      },
      {
        name: 'soak: DMs answered twice',
        value: t.twice,
        baseline: DMS,
        unit: 'DMs',
        better: 'lower',
        target: `0 (maybe sent: ${t.maybeSent})`,
      },
      {
        name: 'soak: DMs expired',
        value: t.expired,
        baseline: DMS,
        unit: 'DMs',
        better: 'lower',
        target: '0',
      },
    ]
  } finally {
    await Promise.all(gws.map((g) => g.stop().catch(() => {})))
    await redis.stop()
    await graph.close()
    await openai.close()
    await pool.end()
    await embedded.close()
    rmSync(dataDir, { recursive: true, force: true })
  }
}
