import { type ChildProcess, spawn } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { gunzipSync } from 'node:zlib'
import type { Pool } from '@loopdm/db/pool'
import { createLogger, type Logger } from '@loopdm/platform/logger'
import { TEST_PSEUDONYM_SECRET } from '@loopdm/testing/fixtures'
import { pseudonymousUserKey } from '@loopdm/training-data/pseudonym'
import type { ExportPausePoint } from '../src/services/export.service.js'

export interface SeedRow {
  user: string
  role: 'user' | 'assistant' | 'system'
  content: string
  /** Minutes relative to `base` (default now). */
  at: number
  hasImage?: boolean
}

/** Inserts rows with explicit timestamps (base + at minutes). Returns their ids in order. */
export async function seed(pool: Pool, rows: SeedRow[], base = Date.now()): Promise<number[]> {
  if (rows.length === 0) return []
  const r = await pool.query<{ id: number }>(
    `insert into conversation_messages (ig_user_id, role, content, has_image, created_at)
     select u, r, c, h, t::timestamptz from unnest($1::text[], $2::text[], $3::text[], $4::bool[], $5::text[])
       with ordinality as x(u, r, c, h, t, n) order by n
     returning id`,
    [
      rows.map((x) => x.user),
      rows.map((x) => x.role),
      rows.map((x) => x.content),
      rows.map((x) => x.hasImage ?? false),
      rows.map((x) => new Date(base + x.at * 60_000).toISOString()),
    ],
  )
  return r.rows.map((x) => Number(x.id))
}

export async function removeUsers(pool: Pool, users: string[]): Promise<void> {
  await pool.query('delete from conversation_messages where ig_user_id = any($1)', [users])
  await pool.query('delete from export_pending where ig_user_id = any($1)', [users])
}

export function tempDir(prefix = 'exporter-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) }
}

export function readLines(path: string): string[] {
  if (!existsSync(path)) return []
  const raw = path.endsWith('.gz')
    ? gunzipSync(readFileSync(path)).toString('utf8')
    : readFileSync(path, 'utf8')
  const lines = raw.split('\n')
  if (lines[lines.length - 1] === '') lines.pop()
  return lines
}

/** The (user, assistant) pairs of `users` in a file, via its manifest. */
export function pairsOf(path: string, users: string[]): Array<{ user: string; q: string; a: string }> {
  const data = readLines(path)
  const manifest = readLines(`${path}.manifest`).map((l) => l.split('\t')[0])
  if (data.length !== manifest.length)
    throw new Error(`${path}: ${data.length} lines vs ${manifest.length} manifest lines`)
  const byKey = new Map(users.map((u) => [pseudonymousUserKey(u, TEST_PSEUDONYM_SECRET), u]))
  const out: Array<{ user: string; q: string; a: string }> = []
  data.forEach((line, i) => {
    const u = byKey.get(manifest[i] as string)
    if (!u) return
    // The taught turn is the last two messages (earlier ones are the conversation's context).
    const m = JSON.parse(line).messages
    out.push({ user: u, q: m[m.length - 2].content, a: m[m.length - 1].content })
  })
  return out
}

export function silentLogger(): Logger {
  return createLogger({ level: 'silent' })
}

const ROOT = resolve(import.meta.dirname, '../../..')
const EXPORT_CHILD = join(import.meta.dirname, 'fixtures/export-child.ts')

/**
 * A real exporter process (test/fixtures/export-child.ts) run with `env`, SIGKILLed when it pauses
 * at `point`: the state a crash there leaves behind. Rejects (with its output) if it was not killed.
 */
export function exportKilledAt(
  env: Record<string, string>,
  point: ExportPausePoint,
): Promise<{ out: string }> {
  return new Promise((res, rej) => {
    const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', EXPORT_CHILD], {
      cwd: ROOT,
      env: { ...process.env, ...env, LOOPDM_TEST_PAUSE_AT: point },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let out = ''
    let err = ''
    child.stdout?.on('data', (d) => {
      out += d
      if (out.includes(`PAUSED ${point}`)) child.kill('SIGKILL')
    })
    child.stderr?.on('data', (d) => {
      err += d
    })
    child.on('error', rej)
    child.on('exit', (_code, signal) => {
      if (signal !== 'SIGKILL') rej(new Error(`child was not killed at ${point}: ${out}\n${err}`))
      else res({ out })
    })
  })
}
