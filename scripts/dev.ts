/**
 * `npm run dev` — the seed's manual test. Starts the whole stack (scripts/start.ts, embedded
 * defaults for whatever is unset) with development webhook secrets, then sends two signed test DMs
 * to the gateway — one text, one with an image — and prints the replies from the outbox
 * (without IG_ACCESS_TOKEN they are `logged`, not sent). The stack keeps running until Ctrl-C;
 * `--once` stops it after the replies are printed.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { resolveDatabaseUrl } from '@loopdm/db/open-database'
import { createPool } from '@loopdm/db/pool'
import { signBody } from '@loopdm/gateway/services/signature'
import { loadConfigOrExit } from '@loopdm/platform/config'
import { parseArgs, ROOT, say, waitFor } from './lib/cli.js'

const { flags } = parseArgs(process.argv.slice(2))
const env: Record<string, string> = { ...(process.env as Record<string, string>) }
// Development defaults: the webhook needs a secret to accept our signed test DMs.
env.IG_APP_SECRET ||= 'dev-app-secret'
env.IG_VERIFY_TOKEN ||= 'dev-verify-token'
env.ADMIN_TOKEN ||= 'dev-admin-token'
const config = loadConfigOrExit(env)
const base = `http://127.0.0.1:${config.gateway.port}`

let stack: ChildProcess | undefined
async function stop(code: number): Promise<never> {
  if (stack && stack.exitCode === null) {
    const exited = new Promise((r) => stack?.once('exit', r))
    stack.kill('SIGINT')
    await exited
  }
  process.exit(code)
}
process.on('SIGINT', () => void stop(0))
process.on('SIGTERM', () => void stop(0))

stack = spawn(process.execPath, ['--import', 'tsx', 'scripts/start.ts'], { cwd: ROOT, env, stdio: 'inherit' })
stack.on('exit', (code) => {
  say(`stack exited (${code})`)
  process.exit(code ?? 1)
})

const ready = await waitFor(async () => {
  try {
    return (await fetch(`${base}/readyz`)).ok
  } catch {
    return false
  }
}, 150_000)
if (!ready) {
  say('✗ the gateway did not become ready within 150 s')
  await stop(1)
}

const account = '17841400000000000'
const user = `dev-user-${randomBytes(3).toString('hex')}`
const dms = [
  { text: 'Hi! Do you ship to Austria, and how long does it take?' },
  { text: 'Is this one still available in size M?', imageUrl: 'https://picsum.photos/seed/loopdm/600/600' },
]
const mids: string[] = []
say('')
say(`── npm run dev: sending ${dms.length} signed test DMs as ${user} to ${base}/webhook`)
for (const dm of dms) {
  const mid = `mid.dev.${randomBytes(6).toString('hex')}`
  mids.push(mid)
  const body = JSON.stringify({
    object: 'instagram',
    entry: [
      {
        id: account,
        time: Date.now(),
        messaging: [
          {
            sender: { id: user },
            recipient: { id: account },
            timestamp: Date.now(),
            message: {
              mid,
              text: dm.text,
              ...(dm.imageUrl ? { attachments: [{ type: 'image', payload: { url: dm.imageUrl } }] } : {}),
            },
          },
        ],
      },
    ],
  })
  const res = await fetch(`${base}/webhook`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-hub-signature-256': signBody(body, env.IG_APP_SECRET) },
    body,
  })
  say(`   → ${dm.imageUrl ? 'text + image' : 'text'}: "${dm.text}"  webhook ${res.status}`)
}

const { url } = await resolveDatabaseUrl(config)
const pool = createPool({ connectionString: url, max: 1 })
type Row = { mid: string; part: number; text: string; status: string; model: string }
let rows: Row[] = []
await waitFor(async () => {
  rows = (
    await pool.query<Row>(
      `select mid, part, text, status, model from outbox where mid = any($1) and status in ('sent', 'logged') order by id`,
      [mids],
    )
  ).rows
  return new Set(rows.map((r) => r.mid)).size === mids.length
}, 60_000)
await pool.end()
say('')
for (const [i, mid] of mids.entries()) {
  const parts = rows.filter((r) => r.mid === mid)
  if (parts.length === 0) {
    say(`   ✗ no reply yet for DM ${i + 1} (${mid})`)
    continue
  }
  say(
    `   ← reply to DM ${i + 1} by ${parts[0]?.model} (${parts[0]?.status}): ${parts.map((p) => p.text).join(' ')}`,
  )
}
say('')
say(
  `   "Selected Model" log lines above show the router's choice; admin: curl -H "Authorization: Bearer ${config.gateway.adminToken === 'dev-admin-token' ? 'dev-admin-token' : '$ADMIN_TOKEN'}" ${base}/admin/models`,
)
if (flags.once) await stop(rows.length > 0 ? 0 : 1)
say('   The stack keeps running; Ctrl-C stops it.')
