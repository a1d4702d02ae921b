import { randomBytes } from 'node:crypto'
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import net from 'node:net'
import { join, resolve } from 'node:path'
import { PGlite } from '@electric-sql/pglite'
import { vector } from '@electric-sql/pglite-pgvector'
import { EmbeddedDbOwnedError } from '@loopdm/platform/errors'
import { serveWire, type WireServer } from './pglite-wire.js'

/**
 * The embedded Postgres: PGlite (real Postgres compiled to WASM) with pgvector, served over the
 * Postgres wire protocol on 127.0.0.1 so every app and test talks plain `pg` to it.
 *
 * PGlite runs every connection's queries through one engine: an open transaction blocks the other
 * connections until it ends. Exactly one process may own a data directory; the owner writes
 * `loopdm-owner.json` into it and a second owner gets EmbeddedDbOwnedError.
 *
 * Clients need a password (SCRAM-SHA-256). It is generated once per data directory into
 * `<dataDir>/.password` (mode 0600) and kept across restarts; an in-memory server generates one per
 * start. `url` carries it, and so does the owner file a second process reads to share the server.
 */
export interface EmbeddedPostgresOptions {
  /** Data directory; `memory://` (or undefined) keeps everything in memory. */
  dataDir?: string | undefined
  /** TCP port on 127.0.0.1; 0 picks a free one. Default 5433. */
  port?: number
  host?: string
  /** Concurrent wire connections the multiplexer accepts. Default 200. */
  maxConnections?: number
  /**
   * Postgres's shared_buffers (EMBEDDED_DB_SHARED_BUFFERS); default PGlite's 128 MB. They live in
   * the engine's WASM memory, so the process's RSS grows by about this much at start; pages that do
   * not fit are read from the data directory's files (README, Reply-path performance).
   */
  sharedBuffersBytes?: number
}

export interface EmbeddedPostgres {
  /** postgres://postgres:<password>@host:port/postgres — what every client connects with. */
  url: string
  port: number
  password: string
  /** Where the password is stored (persistent data directories only). */
  passwordFile: string | undefined
  close(): Promise<void>
}

const OWNER_FILE = 'loopdm-owner.json'
export const PASSWORD_FILE = '.password'

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

export function embeddedUrl(port: number, host = '127.0.0.1', password = ''): string {
  return `postgres://postgres:${encodeURIComponent(password)}@${host}:${port}/postgres?sslmode=disable`
}

/** The stored password of a data directory, if it has one. */
export function readEmbeddedPassword(dataDir: string): string | undefined {
  const f = join(resolve(dataDir), PASSWORD_FILE)
  if (!existsSync(f)) return undefined
  return readFileSync(f, 'utf8').trim() || undefined
}

/** The data directory's password, generated (0600) on first use. */
function dataDirPassword(dataDir: string): string {
  const f = join(dataDir, PASSWORD_FILE)
  const existing = readEmbeddedPassword(dataDir)
  if (existing) {
    chmodSync(f, 0o600)
    return existing
  }
  const password = randomBytes(24).toString('hex')
  writeFileSync(f, `${password}\n`, { mode: 0o600 })
  return password
}

/** Reads the owner file of a data dir, if a live process owns it. */
export function embeddedOwner(dataDir: string): { pid: number; port: number; url: string } | undefined {
  const f = join(resolve(dataDir), OWNER_FILE)
  if (!existsSync(f)) return undefined
  try {
    const o = JSON.parse(readFileSync(f, 'utf8')) as { pid: number; port: number; url: string }
    return pidAlive(o.pid) ? o : undefined
  } catch {
    return undefined
  }
}

export async function startEmbeddedPostgres(opts: EmbeddedPostgresOptions = {}): Promise<EmbeddedPostgres> {
  const host = opts.host ?? '127.0.0.1'
  const persistent = opts.dataDir !== undefined && !opts.dataDir.startsWith('memory://')
  const dataDir = persistent ? resolve(opts.dataDir as string) : undefined
  if (dataDir) {
    mkdirSync(dataDir, { recursive: true })
    const owner = embeddedOwner(dataDir)
    if (owner && owner.pid !== process.pid) {
      throw new EmbeddedDbOwnedError(
        `The embedded Postgres in ${dataDir} is already owned by process ${owner.pid} (serving ${owner.url}). ` +
          `Use DATABASE_URL=${owner.url} to share it, stop that process, or set PGLITE_DATA_DIR to another directory.`,
      )
    }
  }
  const password = dataDir ? dataDirPassword(dataDir) : randomBytes(24).toString('hex')
  const startParams =
    opts.sharedBuffersBytes === undefined
      ? undefined
      : [...PGlite.defaultStartParams, '-c', `shared_buffers=${Math.floor(opts.sharedBuffersBytes / 1024)}kB`]
  const db = await PGlite.create({ dataDir, extensions: { vector }, ...(startParams ? { startParams } : {}) })
  await db.exec('create extension if not exists vector')
  let server: WireServer
  try {
    server = await serveWire(db, {
      host,
      port: opts.port ?? 5433,
      maxConnections: opts.maxConnections ?? 200,
      password,
    })
  } catch (err) {
    await db.close().catch(() => {})
    const e = err as NodeJS.ErrnoException
    if (e.code === 'EADDRINUSE') {
      throw new EmbeddedDbOwnedError(
        `Port ${opts.port} on ${host} is in use, so the embedded Postgres cannot listen there. Set EMBEDDED_DB_PORT to a free port or DATABASE_URL to the server using it.`,
      )
    }
    throw err
  }
  const port = server.port
  const url = embeddedUrl(port, host, password)
  const ownerFile = dataDir ? join(dataDir, OWNER_FILE) : undefined
  // The owner file carries the password inside `url`: 0600 like the password file.
  if (ownerFile) writeFileSync(ownerFile, JSON.stringify({ pid: process.pid, port, url }), { mode: 0o600 })
  let closing: Promise<void> | undefined
  return {
    url,
    port,
    password,
    passwordFile: dataDir ? join(dataDir, PASSWORD_FILE) : undefined,
    close() {
      closing ??= (async () => {
        await server.close().catch(() => {})
        await db.close().catch(() => {})
        if (ownerFile) rmSync(ownerFile, { force: true })
      })()
      return closing
    },
  }
}

/** True when something accepts TCP connections on host:port within `timeoutMs`. */
export function portAnswers(port: number, host = '127.0.0.1', timeoutMs = 500): Promise<boolean> {
  return new Promise((resolveP) => {
    const s = net.connect({ port, host })
    const done = (ok: boolean) => {
      s.destroy()
      resolveP(ok)
    }
    s.setTimeout(timeoutMs, () => done(false))
    s.once('connect', () => done(true))
    s.once('error', () => done(false))
  })
}
