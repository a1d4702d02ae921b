import type { Pool } from '@loopdm/db/pool'
import type { PiiCounts } from '@loopdm/training-data/redaction'
import type { Position } from './messages.repository.js'

export type RunKind = 'nightly' | 'backfill'
export type RunStatus = 'started' | 'written' | 'committed' | 'failed'

/** One output file of a run (a daily file or one of its parts) and where its new lines start. */
export interface FilePlan {
  /** Absolute paths. */
  final: string
  temp: string
  manifestFinal: string
  manifestTemp: string
  /** Bytes/lines the file already had before this run (a second run on the same date). */
  baseBytes: number
  baseLines: number
  baseManifestBytes: number
  /** Totals after this run. */
  bytes: number
  lines: number
  manifestBytes: number
}

export interface PendingTurn {
  igUserId: string
  fromCreatedAt: string
  fromId: number
}

/** What a run wrote, recorded before the files become visible so a crash can be finished. */
export interface RunPlan {
  files: FilePlan[]
  /** Whether the new lines go to the master (nightly runs) and where the append starts. */
  master?: { path: string; manifestPath: string; offset: number; manifestOffset: number }
  pending: PendingTurn[]
}

export interface ExportRun {
  id: number
  runDate: string
  kind: RunKind
  status: RunStatus
  trigger: string
  owner: string
  heartbeatAt: Date
  to: Position | undefined
  toHighId: number | undefined
  plan: RunPlan | undefined
  rowsRead: number
  examples: number
  bytes: number
  pii: PiiCounts
}

interface RunDbRow {
  id: number
  run_date: string
  kind: RunKind
  status: RunStatus
  trigger: string
  owner: string
  heartbeat_at: Date
  to_created_at: string | null
  to_id: number | null
  to_high_id: number | null
  plan: RunPlan | null
  rows_read: number
  examples: number
  bytes: number
  pii: PiiCounts
}

const SELECT = `select id, run_date::text as run_date, kind, status, trigger, owner, heartbeat_at,
  to_created_at::text as to_created_at, to_id, to_high_id, plan, rows_read, examples, bytes, pii from export_runs`

function toRun(r: RunDbRow): ExportRun {
  return {
    id: Number(r.id),
    runDate: r.run_date,
    kind: r.kind,
    status: r.status,
    trigger: r.trigger,
    owner: r.owner,
    heartbeatAt: r.heartbeat_at,
    to:
      r.to_created_at === null || r.to_id === null
        ? undefined
        : { createdAt: r.to_created_at, id: Number(r.to_id) },
    toHighId: r.to_high_id === null ? undefined : Number(r.to_high_id),
    plan: r.plan ?? undefined,
    rowsRead: Number(r.rows_read),
    examples: Number(r.examples),
    bytes: Number(r.bytes),
    pii: r.pii,
  }
}

/** `export_runs` and `export_pending`: the watermark, the in-flight lease and the carried-over turns. */
export function createExportRunsRepository(db: Pool) {
  return {
    /** The last committed nightly run: its `to` is the watermark. */
    async lastCommittedNightly(): Promise<ExportRun | undefined> {
      const r = await db.query<RunDbRow>(
        `${SELECT} where status = 'committed' and kind = 'nightly' order by id desc limit 1`,
      )
      return r.rows[0] ? toRun(r.rows[0]) : undefined
    },

    async inFlight(): Promise<ExportRun | undefined> {
      const r = await db.query<RunDbRow>(`${SELECT} where status in ('started', 'written') limit 1`)
      return r.rows[0] ? toRun(r.rows[0]) : undefined
    },

    async get(id: number): Promise<ExportRun | undefined> {
      const r = await db.query<RunDbRow>(`${SELECT} where id = $1`, [id])
      return r.rows[0] ? toRun(r.rows[0]) : undefined
    },

    /** Takes the in-flight lease; undefined when another run holds it (unique partial index). */
    async start(q: {
      runDate: string
      kind: RunKind
      trigger: string
      owner: string
      since?: string | undefined
      until?: string | undefined
    }): Promise<number | undefined> {
      const r = await db.query<{ id: number }>(
        `insert into export_runs (run_date, kind, status, trigger, owner, since_at, until_at)
         values ($1, $2, 'started', $3, $4, $5, $6)
         on conflict do nothing returning id`,
        [q.runDate, q.kind, q.trigger, q.owner, q.since ?? null, q.until ?? null],
      )
      return r.rows[0] ? Number(r.rows[0].id) : undefined
    },

    async heartbeat(id: number, rowsRead: number): Promise<void> {
      await db.query('update export_runs set heartbeat_at = now(), rows_read = $2 where id = $1', [
        id,
        rowsRead,
      ])
    },

    /** Records what was written (files fsynced, not yet renamed) and the watermark to commit. */
    async markWritten(
      id: number,
      q: {
        plan: RunPlan
        from: Position | undefined
        fromHighId: number | undefined
        to: Position | undefined
        toHighId: number | undefined
        rowsRead: number
        examples: number
        bytes: number
        pii: PiiCounts
      },
    ): Promise<void> {
      await db.query(
        `update export_runs set status = 'written', written_at = now(), heartbeat_at = now(), plan = $2,
           to_created_at = $3, to_id = $4, to_high_id = $5, rows_read = $6, examples = $7, bytes = $8, pii = $9,
           from_created_at = $10, from_id = $11, from_high_id = $12
         where id = $1 and status = 'started'`,
        [
          id,
          JSON.stringify(q.plan),
          q.to?.createdAt ?? null,
          q.to?.id ?? null,
          q.toHighId ?? null,
          q.rowsRead,
          q.examples,
          q.bytes,
          JSON.stringify(q.pii),
          q.from?.createdAt ?? null,
          q.from?.id ?? null,
          q.fromHighId ?? null,
        ],
      )
    },

    /**
     * Commits a run in one short transaction: the watermark moves (it is the run's `to`) and, for a
     * nightly run, the carried-over user turns are replaced by the run's.
     */
    async commit(id: number, kind: RunKind, pending: PendingTurn[]): Promise<void> {
      const client = await db.connect()
      try {
        await client.query('begin')
        await client.query(
          `update export_runs set status = 'committed', committed_at = now(), plan = plan - 'pending'
           where id = $1 and status in ('started', 'written')`,
          [id],
        )
        if (kind === 'nightly') {
          await client.query('delete from export_pending')
          if (pending.length > 0) {
            await client.query(
              `insert into export_pending (ig_user_id, from_created_at, from_id, run_id)
               select u, c::timestamptz, i, $4 from unnest($1::text[], $2::text[], $3::bigint[]) as t(u, c, i)`,
              [
                pending.map((p) => p.igUserId),
                pending.map((p) => p.fromCreatedAt),
                pending.map((p) => p.fromId),
                id,
              ],
            )
          }
        }
        await client.query('commit')
      } catch (err) {
        await client.query('rollback').catch(() => {})
        throw err
      } finally {
        client.release()
      }
    },

    async markFailed(id: number, error: string): Promise<void> {
      await db.query(
        `update export_runs set status = 'failed', error = $2 where id = $1 and status in ('started', 'written')`,
        [id, error.slice(0, 2000)],
      )
      // Its lines were never appended: the run that redoes them must not find them "duplicate".
      await db.query('delete from export_line_hashes where run_id = $1', [id])
    },

    /** GDPR: forgets a user's carried-over turn (the only place the exporter keeps a user id). */
    async deletePendingFor(igUserId: string): Promise<number> {
      const r = await db.query('delete from export_pending where ig_user_id = $1', [igUserId])
      return r.rowCount ?? 0
    },

    async pendingCount(): Promise<number> {
      const r = await db.query<{ n: number }>('select count(*)::bigint as n from export_pending')
      return Number(r.rows[0]?.n ?? 0)
    },
  }
}

export type ExportRunsRepository = ReturnType<typeof createExportRunsRepository>
