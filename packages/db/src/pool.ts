import { createHash } from 'node:crypto'
import { UnavailableError } from '@loopdm/platform/errors'
import pg from 'pg'
import pgvector from 'pgvector'

export type Pool = pg.Pool
export type PoolClient = pg.PoolClient
export type Queryable = Pick<pg.Pool, 'query'>

// int8 (bigserial ids, counts) as JS numbers: our ids stay far below 2^53.
pg.types.setTypeParser(20, (v) => Number.parseInt(v, 10))

export interface PoolOptions {
  connectionString: string
  /** Max clients; default 10. */
  max?: number
  /** Name shown in pg_stat_activity. */
  applicationName?: string
}

/**
 * A `pg` Pool whose `vector` columns come back as `number[]` once `refreshVectorType` (or
 * `openPool`) has looked up the vector type's OID, which differs per database; the parser is
 * installed on this pool only.
 */
export function createPool(opts: PoolOptions): pg.Pool {
  let vectorOid: number | undefined
  const types = {
    getTypeParser(oid: number, format?: string) {
      if (oid === vectorOid) return (v: string) => pgvector.fromSql(v) as number[]
      return pg.types.getTypeParser(oid, format as 'text')
    },
  }
  const pool = new pg.Pool({
    connectionString: opts.connectionString,
    max: opts.max ?? 10,
    application_name: opts.applicationName,
    types: types as pg.CustomTypesConfig,
    connectionTimeoutMillis: 10_000,
  })
  // Without a listener an idle client's error would crash the process.
  pool.on('error', () => {})
  vectorOidSetters.set(pool, (oid) => {
    vectorOid = oid
  })
  return pool
}

const vectorOidSetters = new WeakMap<pg.Pool, (oid: number) => void>()

/**
 * Creates the pool and waits until the vector type is known, so the very first query already
 * returns `number[]` for vector columns (call after migrations created the extension).
 */
export async function openPool(opts: PoolOptions): Promise<pg.Pool> {
  const pool = createPool(opts)
  await refreshVectorType(pool)
  return pool
}

/** Looks the vector OID up again (after `create extension vector`). */
export async function refreshVectorType(pool: pg.Pool): Promise<void> {
  const r = await pool.query("select oid from pg_type where typname = 'vector'")
  if (r.rows[0]) vectorOidSetters.get(pool)?.(Number(r.rows[0].oid))
}

/** pgvector's text form for a query parameter: `[0.1,0.2,…]`. */
export function toVector(v: readonly number[]): string {
  return pgvector.toSql(v as number[]) as string
}

/**
 * A vector as a BINARY query parameter (pgvector's wire format: int16 dim, int16 0, float4 × dim,
 * big-endian); node-pg sends a Buffer parameter in binary format. Use it as `$n::vector`. It spares
 * the server parsing ~20 KB of decimal text per 1536-d query vector: measured on the embedded
 * Postgres, 0.3 ms per query instead of 2–6 ms (bench/exemplars.bench.ts).
 */
export function vectorParam(v: readonly number[]): Buffer {
  const b = Buffer.allocUnsafe(4 + 4 * v.length)
  b.writeInt16BE(v.length, 0)
  b.writeInt16BE(0, 2)
  for (let i = 0; i < v.length; i++) {
    const x = v[i] as number
    if (!Number.isFinite(x)) throw new TypeError(`vector element ${i} is not a finite number: ${x}`)
    b.writeFloatBE(x, 4 + 4 * i)
  }
  return b
}

const statementNames = new Map<string, string>()

/**
 * A hot query as a named prepared statement: node-pg sends its text to each connection once, and
 * every later call only binds and executes, so Postgres neither parses nor plans it again (after
 * five calls it keeps a generic plan when that is no dearer than the custom ones). Measured on
 * the embedded Postgres: ~0.27 ms less per query (README, Reply-path performance). The name is
 * derived from the text, so two texts never share one. For statements whose text has a bounded
 * number of forms (never user data in the text). A statement whose first parse fails is not kept;
 * one whose objects change is re-planned by Postgres. Behind PgBouncer in transaction mode this
 * needs `max_prepared_statements` (PgBouncer ≥ 1.21).
 */
export function prepared(text: string, values: unknown[]): pg.QueryConfig {
  let name = statementNames.get(text)
  if (name === undefined) {
    name = `loopdm_${createHash('sha256').update(text).digest('hex').slice(0, 20)}`
    statementNames.set(text, name)
  }
  return { name, text, values }
}

/** Parses a vector column that came back as text (e.g. before the OID was known). */
export function fromVector(v: string | number[]): number[] {
  return Array.isArray(v) ? v : (pgvector.fromSql(v) as number[])
}

/** Runs `fn` in a transaction on one client; commits or rolls back, always releases. */
export async function withTransaction<T>(
  pool: pg.Pool,
  fn: (client: pg.PoolClient) => Promise<T>,
): Promise<T> {
  const client = await pool.connect()
  try {
    await client.query('begin')
    const out = await fn(client)
    await client.query('commit')
    return out
  } catch (err) {
    await client.query('rollback').catch(() => {})
    throw err
  } finally {
    client.release()
  }
}

/** Fails fast with a clear error when Postgres does not answer. */
export async function assertDatabase(pool: pg.Pool, url: string): Promise<void> {
  try {
    await pool.query('select 1')
  } catch (err) {
    throw new UnavailableError(
      `Postgres at ${redactUrl(url)} did not answer (${(err as Error).message}). Unset DATABASE_URL to use the embedded database, or start Postgres.`,
      err,
    )
  }
}

/** The URL without its password, for logs and errors. */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url)
    if (u.password) u.password = '***'
    return u.toString()
  } catch {
    return '<invalid url>'
  }
}
