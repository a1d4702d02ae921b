/**
 * `npm run ig:refresh-token [-- --env-file .env]`: refreshes the long-lived Instagram token in
 * IG_ACCESS_TOKEN through Meta's endpoint
 * `GET https://graph.instagram.com/refresh_access_token?grant_type=ig_refresh_token&access_token=…`
 * (the token must be at least 24 hours old and not expired; the new one is valid for 60 days).
 * Prints the new token and its expiry on stdout — or, with `--env-file`, writes it into that file's
 * IG_ACCESS_TOKEN line and prints only the expiry. Restart the gateway(s) afterwards: replies held
 * because Meta refused the old token (code 190) are then sent. The host is IG_GRAPH_BASE_URL's
 * origin (default graph.instagram.com). Exit 1 when Meta refuses, 2 on bad usage.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { loadConfigOrExit } from '@loopdm/platform/config'
import { parseArgs, say } from './lib/cli.js'

const { flags } = parseArgs(process.argv.slice(2))
const envFile = typeof flags['env-file'] === 'string' ? flags['env-file'] : undefined
const config = loadConfigOrExit()
const token = config.instagram.accessToken
if (!token) {
  process.stderr.write('ig:refresh-token: IG_ACCESS_TOKEN is unset; nothing to refresh\n')
  process.exit(2)
}
if (envFile && !existsSync(envFile)) {
  process.stderr.write(`ig:refresh-token: no such env file: ${envFile}\n`)
  process.exit(2)
}
const origin = new URL(config.instagram.graphBaseUrl ?? 'https://graph.instagram.com').origin
const url = `${origin}/refresh_access_token?grant_type=ig_refresh_token&access_token=${encodeURIComponent(token)}`
try {
  const res = await fetch(url, { signal: AbortSignal.timeout(15_000) })
  const body = (await res.json().catch(() => ({}))) as {
    access_token?: string
    expires_in?: number
    error?: { message?: string; code?: number }
  }
  if (!res.ok || !body.access_token) {
    const e = body.error
    process.stderr.write(
      `ig:refresh-token: Meta refused the refresh (HTTP ${res.status}${e?.code !== undefined ? `, code ${e.code}` : ''}): ${e?.message ?? 'no access_token in the answer'}\n` +
        (e?.code === 190
          ? '  The token has expired or was revoked: generate a new one in the Meta App Dashboard (Instagram → API setup).\n'
          : ''),
    )
    process.exit(1)
  }
  const expires = new Date(Date.now() + (body.expires_in ?? 0) * 1000).toISOString()
  if (envFile) {
    const text = readFileSync(envFile, 'utf8')
    const line = `IG_ACCESS_TOKEN=${body.access_token}`
    const next = /^IG_ACCESS_TOKEN=.*$/m.test(text)
      ? text.replace(/^IG_ACCESS_TOKEN=.*$/m, line)
      : `${text.replace(/\n?$/, '\n')}${line}\n`
    writeFileSync(envFile, next)
    say(`IG_ACCESS_TOKEN in ${envFile} refreshed; valid until ${expires}. Restart the gateway(s) to use it.`)
  } else {
    say(body.access_token)
    say(`# valid until ${expires}: put it in IG_ACCESS_TOKEN and restart the gateway(s)`)
  }
} catch (err) {
  process.stderr.write(`ig:refresh-token: ${origin} unreachable: ${(err as Error).message}\n`)
  process.exit(1)
}
