/**
 * `npm start`: the stack supervisor. Starts the embedded Postgres when DATABASE_URL is unset,
 * migrates, starts openai-local when OPENAI_API_KEY is unset, then every app as a child process
 * with prefixed logs; prints the URLs; Ctrl-C stops every child and the database cleanly.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { portAnswers, startEmbeddedPostgres } from '@loopdm/db/embedded'
import { runMigrations } from '@loopdm/db/migrate'
import { createPool, redactUrl } from '@loopdm/db/pool'
import { createRegistryRepository } from '@loopdm/models/registry'
import { shutdownWarnings } from '@loopdm/models/shutdowns'
import { loadConfigOrExit } from '@loopdm/platform/config'
import { ensurePseudonymSecretFile, PSEUDONYM_SECRET_FILE } from '@loopdm/platform/config-privacy'
import { assertRedis } from '@loopdm/redis/client'
import { nodeFlagsFor } from './lib/app-flags.js'
import { ROOT, say, waitFor } from './lib/cli.js'

const APPS = ['openai-local', 'gateway', 'exporter', 'tuner', 'evaluator'] as const

const config = loadConfigOrExit()
const children = new Map<string, ChildProcess>()
let embeddedClose: (() => Promise<void>) | undefined
/** Where the embedded server's generated password lives (persistent data directories). */
let embeddedPasswordFile: string | undefined
let stopping = false

async function main() {
  try {
    await assertRedis(config.redis.url)
  } catch (err) {
    say(`✗ ${(err as Error).message}`)
    process.exit(1)
  }

  let databaseUrl = config.db.url
  if (!databaseUrl) {
    say(`• starting embedded Postgres (PGlite + pgvector) in ${config.db.embedded.dataDir} …`)
    try {
      const embedded = await startEmbeddedPostgres({
        dataDir: config.db.embedded.dataDir,
        port: config.db.embedded.port,
        sharedBuffersBytes: config.db.embedded.sharedBuffersBytes,
      })
      embeddedClose = embedded.close
      embeddedPasswordFile = embedded.passwordFile
      databaseUrl = embedded.url
    } catch (err) {
      say(`✗ ${(err as Error).message}`)
      process.exit(1)
    }
  }
  const pool = createPool({ connectionString: databaseUrl, max: 2 })
  try {
    const r = await runMigrations(pool)
    say(`• migrations: ${r.applied.length} applied, ${r.skipped.length} already applied`)
    // A month ahead: OpenAI's fine-tuning cutoff, FT_BASE_MODEL's or the live model's base shutdown.
    const active = await createRegistryRepository(pool).findActive()
    for (const w of shutdownWarnings(config, active?.model, new Date())) say(`! ${w.message}`)
  } catch (err) {
    say(`✗ migrations failed: ${(err as Error).message}`)
    await pool.end()
    await shutdown(1)
    return
  } finally {
    await pool.end().catch(() => {})
  }

  const generatedToken = config.gateway.adminToken ? undefined : randomBytes(24).toString('base64url')
  const env: Record<string, string> = {
    ...(process.env as Record<string, string>),
    DATABASE_URL: databaseUrl,
    LOOPDM_SUPERVISOR_PID: String(process.pid),
  }
  if (generatedToken) env.ADMIN_TOKEN = generatedToken
  // The pseudonymous user key is an HMAC with a per-deployment secret: generated once, kept in .data.
  let pseudonymNote = 'PSEUDONYM_SECRET is set (or read from .data/pseudonym.secret)'
  if (config.privacy.pseudonymSecret) env.PSEUDONYM_SECRET = config.privacy.pseudonymSecret
  else {
    const s = ensurePseudonymSecretFile(join(ROOT, PSEUDONYM_SECRET_FILE))
    env.PSEUDONYM_SECRET = s.secret
    pseudonymNote = `${s.created ? 'generated into' : 'read from'} ${PSEUDONYM_SECRET_FILE} (back it up with the exports)`
  }

  const useLocalOpenAI = !config.openai.apiKey
  if (useLocalOpenAI) {
    if (await portAnswers(config.openai.localServer.port)) {
      say(
        `✗ port ${config.openai.localServer.port} is taken: set OPENAI_LOCAL_PORT to a free port (openai-local).`,
      )
      await shutdown(1)
      return
    }
    env.OPENAI_BASE_URL = config.openai.baseURL ?? `http://127.0.0.1:${config.openai.localServer.port}/v1`
  }

  for (const app of APPS) {
    if (app === 'openai-local' && !useLocalOpenAI) continue
    if (!existsSync(`${ROOT}/apps/${app}/src/main.ts`)) continue
    startChild(app, env)
    if (app === 'openai-local') {
      const ok = await waitFor(() => portAnswers(config.openai.localServer.port), 30_000)
      if (!ok) say('! openai-local did not start listening within 30 s')
    }
  }

  const base = `http://127.0.0.1:${config.gateway.port}`
  const ready = await waitFor(async () => {
    try {
      return (await fetch(`${base}/readyz`)).ok
    } catch {
      return false
    }
  }, 120_000)
  say('')
  say(ready ? '✓ Loop DM is up' : '! the gateway is not ready yet (see its log lines above)')
  const metrics = config.metrics.port
    ? `metrics http://${config.metrics.host}:${config.metrics.port}/metrics`
    : `metrics ${base}/metrics with the admin token`
  say(`  gateway        ${base}   (webhook ${base}/webhook, ${metrics})`)
  say(`  admin          ${base}/admin/models · Bull Board ${base}/admin/queues`)
  // An operator's own DATABASE_URL stays redacted; the embedded server's generated local password
  // is printed in full (like a generated ADMIN_TOKEN) so psql or another process can connect.
  if (config.db.url) say(`  DATABASE_URL   ${redactUrl(databaseUrl)}`)
  else
    say(
      `  DATABASE_URL   ${databaseUrl}   (embedded; other processes may use it; password in ${embeddedPasswordFile ?? 'memory only'})`,
    )
  if (useLocalOpenAI) say(`  OPENAI_BASE_URL ${env.OPENAI_BASE_URL}   (openai-local, offline)`)
  else say('  OpenAI         api.openai.com (OPENAI_API_KEY is set)')
  if (generatedToken)
    say(`  ADMIN_TOKEN    ${generatedToken}   (generated for this run; set ADMIN_TOKEN to keep one)`)
  say(`  pseudonyms     ${pseudonymNote}`)
  say('  Ctrl-C stops everything.')
  say('')
}

function startChild(app: string, env: Record<string, string>) {
  const flags = nodeFlagsFor(app)
  const child = spawn(process.execPath, [...flags, '--import', 'tsx', `apps/${app}/src/main.ts`], {
    cwd: ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  children.set(app, child)
  const prefix = `[${app}]`.padEnd(15)
  for (const stream of [child.stdout, child.stderr]) {
    createInterface({ input: stream }).on('line', (line) => process.stdout.write(`${prefix}${line}\n`))
  }
  child.on('exit', (code, signal) => {
    children.delete(app)
    if (!stopping) {
      say(`✗ ${app} exited (${signal ?? code}); stopping the stack`)
      void shutdown(1)
    }
  })
}

async function shutdown(code: number) {
  if (stopping) return
  stopping = true
  say('• stopping …')
  const exits = [...children.entries()].map(
    ([name, child]) =>
      new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          say(`! ${name} did not stop within 10 s; killing it`)
          child.kill('SIGKILL')
        }, 10_000)
        child.once('exit', () => {
          clearTimeout(timer)
          resolve()
        })
        child.kill('SIGTERM')
      }),
  )
  await Promise.all(exits)
  await embeddedClose?.()
  say('• stopped')
  process.exit(code)
}

process.on('SIGINT', () => void shutdown(0))
process.on('SIGTERM', () => void shutdown(0))
await main()
