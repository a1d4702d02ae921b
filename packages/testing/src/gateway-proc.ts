import { type ChildProcess, spawn } from 'node:child_process'
import { dirname, resolve } from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import { freePort, startPrivateRedis } from '@loopdm/redis/private-redis'
import { dmWebhookBody, newMid, signWebhookBody } from './webhook.js'

/** The repository root (the gateway process runs from there). */
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..')

/**
 * A real gateway process (`apps/gateway/src/main.ts`) spawned with env on a free port, its JSON log
 * lines captured with the time this process read them — used by the demo, the hot-swap tests and
 * the hot-swap benchmark. Plus a signed-DM sender.
 */
export const APP_SECRET = 'loopdm-local-app-secret'
export const IG_ACCOUNT = '17841400000000077'

export const ADMIN_TOKEN = 'loopdm-local-admin-token'

export { freePort, startPrivateRedis }

export interface LogEntry {
  /** performance.now() when this process read the line. */
  at: number
  line: Record<string, unknown>
}

export interface GatewayProc {
  name: string
  url: string
  logs: LogEntry[]
  /** Resolves with the first entry (from index `from`) matching `pred`. */
  waitForLog(
    pred: (l: Record<string, unknown>) => boolean,
    timeoutMs?: number,
    from?: number,
  ): Promise<LogEntry>
  admin(path: string, init?: { method?: string; body?: unknown }): Promise<{ status: number; json: any }>
  stop(): Promise<void>
}

export async function spawnGateway(
  name: string,
  env: Record<string, string>,
  opts: { port?: number; adminToken?: string; onLine?: (l: Record<string, unknown>) => void } = {},
): Promise<GatewayProc> {
  const port = opts.port || (await freePort())
  const adminToken = opts.adminToken ?? ADMIN_TOKEN
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', 'apps/gateway/src/main.ts'], {
    cwd: ROOT,
    env: {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? '',
      NODE_ENV: 'test',
      LOG_LEVEL: 'info',
      HOST: '127.0.0.1',
      PORT: String(port),
      IG_APP_SECRET: APP_SECRET,
      ADMIN_TOKEN: adminToken,
      ...env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  const logs: LogEntry[] = []
  const waiters = new Set<() => void>()
  let stderr = ''
  createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (raw) => {
    try {
      const line = JSON.parse(raw) as Record<string, unknown>
      logs.push({ at: performance.now(), line })
      opts.onLine?.(line)
      for (const w of waiters) w()
    } catch {}
  })
  child.stderr?.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000)
  })
  let exited = false
  child.once('exit', () => {
    exited = true
    for (const w of waiters) w()
  })
  const waitForLog: GatewayProc['waitForLog'] = (pred, timeoutMs = 30_000, from = 0) =>
    new Promise((res, rej) => {
      const check = () => {
        for (let i = from; i < logs.length; i++) {
          const e = logs[i] as LogEntry
          if (pred(e.line)) {
            cleanup()
            res(e)
            return true
          }
        }
        if (exited) {
          cleanup()
          rej(new Error(`gateway ${name} exited: ${stderr}`))
          return true
        }
        return false
      }
      const timer = setTimeout(() => {
        cleanup()
        const last = logs
          .slice(-5)
          .map((e) => JSON.stringify(e.line).slice(0, 240))
          .join('\n  ')
        rej(
          new Error(
            `gateway ${name}: no matching log line within ${timeoutMs} ms; last log lines:\n  ${last}\nstderr: ${stderr}`,
          ),
        )
      }, timeoutMs)
      const cleanup = () => {
        clearTimeout(timer)
        waiters.delete(onLine)
      }
      const onLine = () => {
        check()
      }
      if (!check()) waiters.add(onLine)
    })
  const url = `http://127.0.0.1:${port}`
  await waitForLog((l) => l.msg === 'gateway listening', 90_000)
  return {
    name,
    url,
    logs,
    waitForLog,
    async admin(path, init = {}) {
      const res = await fetch(`${url}${path}`, {
        method: init.method ?? 'GET',
        headers: {
          authorization: `Bearer ${adminToken}`,
          ...(init.body !== undefined ? { 'content-type': 'application/json' } : {}),
        },
        body: init.body !== undefined ? JSON.stringify(init.body) : undefined,
      })
      const text = await res.text()
      let json: unknown = text
      try {
        json = JSON.parse(text)
      } catch {}
      return { status: res.status, json }
    },
    async stop() {
      if (exited) return
      await new Promise<void>((res) => {
        const t = setTimeout(() => child.kill('SIGKILL'), 10_000)
        child.once('exit', () => {
          clearTimeout(t)
          res()
        })
        child.kill('SIGTERM')
      })
    },
  }
}

/** A signed Instagram webhook POST with one text DM. */
export async function sendDm(
  gatewayUrl: string,
  args: { user: string; text: string; mid?: string },
): Promise<{ mid: string; status: number }> {
  const mid = args.mid ?? newMid()
  const body = JSON.stringify(dmWebhookBody({ user: args.user, mid, text: args.text, account: IG_ACCOUNT }))
  const res = await fetch(`${gatewayUrl}/webhook`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-hub-signature-256': signWebhookBody(body, APP_SECRET) },
    body,
  })
  await res.arrayBuffer()
  return { mid, status: res.status }
}
