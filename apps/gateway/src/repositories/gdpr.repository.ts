import { type Pool, type PoolClient, withTransaction } from '@loopdm/db/pool'
import { userKeyCandidates } from '@loopdm/training-data/pseudonym'

/**
 * SQL of the GDPR erase. The tables holding a user's rows are discovered, not listed: every base
 * table in the current schema with an `ig_user_id` column — so a table another module adds later
 * is covered without touching this file.
 */

const USER_COLUMN = 'ig_user_id'
const quoteIdent = (s: string) => `"${s.replace(/"/g, '""')}"`

export interface UserTable {
  table: string
  /** The column's type; text columns compare directly (index-friendly), others as text. */
  dataType: string
}

/** `pseudonymSecret` (PSEUDONYM_SECRET): audit rows are found by the HMAC key and the legacy one. */
export function createGdprRepository(db: Pool, opts: { pseudonymSecret: string | undefined }) {
  return {
    async userTables(): Promise<UserTable[]> {
      const r = await db.query<UserTable>(
        `select c.table_name as "table", c.data_type as "dataType"
           from information_schema.columns c
           join information_schema.tables t
             on t.table_schema = c.table_schema and t.table_name = c.table_name
          where c.column_name = $1 and c.table_schema = current_schema() and t.table_type = 'BASE TABLE'
          order by c.table_name`,
        [USER_COLUMN],
      )
      return r.rows
    },

    /** Rows per table for this user (tests and dry runs). */
    async countUserRows(igUserId: string): Promise<Record<string, number>> {
      const out: Record<string, number> = {}
      for (const t of await this.userTables()) {
        const r = await db.query<{ n: number }>(
          `select count(*)::int as n from ${quoteIdent(t.table)} where ${predicate(t)}`,
          [igUserId],
        )
        out[t.table] = Number(r.rows[0]?.n ?? 0)
      }
      return out
    },

    /**
     * Deletes the user's rows from every such table in one short transaction (all or nothing);
     * `also` runs in that same transaction after the deletes (the exemplars and the audit row), so
     * a failure anywhere leaves nothing deleted. A foreign key between two tables may need the
     * child first: a table whose delete fails is retried after the others (savepoints keep the
     * transaction usable).
     */
    async deleteUserRows<T>(
      igUserId: string,
      also: (c: PoolClient, tables: Record<string, number>) => Promise<T>,
    ): Promise<{ tables: Record<string, number>; also: T }> {
      const tables = await this.userTables()
      return withTransaction(db, async (c) => {
        const counts: Record<string, number> = {}
        let todo = tables
        for (let pass = 0; todo.length > 0; pass++) {
          const failed: UserTable[] = []
          let lastErr: unknown
          for (const t of todo) {
            await c.query('savepoint gdpr_table')
            try {
              const r = await c.query(`delete from ${quoteIdent(t.table)} where ${predicate(t)}`, [igUserId])
              await c.query('release savepoint gdpr_table')
              counts[t.table] = (counts[t.table] ?? 0) + (r.rowCount ?? 0)
            } catch (err) {
              await c.query('rollback to savepoint gdpr_table')
              failed.push(t)
              lastErr = err
            }
          }
          if (failed.length === todo.length || pass > tables.length) throw lastErr
          todo = failed
        }
        return { tables: counts, also: await also(c, counts) }
      })
    },

    /** When the user was last erased (the audit row's time), or null. Indexed by (user_key, created_at). */
    async lastErasedAt(igUserId: string): Promise<number | null> {
      const r = await db.query<{ at: Date | null }>(
        'select max(created_at) as at from gdpr_erasures where user_key = any($1::text[])',
        [userKeyCandidates(igUserId, opts.pseudonymSecret)],
      )
      return r.rows[0]?.at?.getTime() ?? null
    },

    async insertAudit(
      a: { userKey: string; actor: string; counts: unknown },
      q: Pick<PoolClient, 'query'> = db as unknown as PoolClient,
    ): Promise<{ id: number; createdAt: Date }> {
      const r = await q.query<{ id: number; createdAt: Date }>(
        `insert into gdpr_erasures (user_key, actor, counts) values ($1, $2, $3::jsonb)
         returning id, created_at as "createdAt"`,
        [a.userKey, a.actor, JSON.stringify(a.counts)],
      )
      return r.rows[0] as { id: number; createdAt: Date }
    },

    /** The erase finished (export files and provider copies too): the full counts. */
    async completeAudit(id: number, counts: unknown): Promise<void> {
      await db.query('update gdpr_erasures set counts = $2::jsonb, completed_at = now() where id = $1', [
        id,
        JSON.stringify(counts),
      ])
    },
  }
}

function predicate(t: UserTable): string {
  const text = ['text', 'character varying', 'character'].includes(t.dataType)
  return text ? `${quoteIdent(USER_COLUMN)} = $1` : `${quoteIdent(USER_COLUMN)}::text = $1`
}

export type GdprRepository = ReturnType<typeof createGdprRepository>
