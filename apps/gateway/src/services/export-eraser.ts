import { createLogger, type Logger } from '@loopdm/platform/logger'
import { eraseUserFromExports } from '@loopdm/training-data/export-erase'
import type { SettleDb } from '@loopdm/training-data/export-settle'

/**
 * The seam to the GDPR erase of export files (`eraseUserFromExports` in
 * `@loopdm/training-data/export-erase`): removes a user's lines from every export file
 * (daily, master, gzipped, archived), found through the sidecar manifests' pseudonymous user keys.
 * `uploadedFiles` counts files that held the user's lines but were already uploaded to the
 * provider (the local copy is cleaned); `uploaded` lists those files, whose `<file>.uploaded`
 * marker (written by the tuner) lets the erase delete the provider's copy.
 */
export interface ExportEraseResult {
  files: number
  lines: number
  uploadedFiles: number
  /** Paths of the cleaned files that had been uploaded. */
  uploaded?: string[]
  /** Paths of every cleaned file (the provider copies are looked up by these). */
  erased?: string[]
  /** The id of an in-flight export run rolled back first (its exporter had died). */
  settledRunId?: number | undefined
}

export type ExportEraser = (args: {
  exportDir: string
  igUserId: string
  logger?: Logger | undefined
  /** PSEUDONYM_SECRET: manifests are searched for the HMAC key and the legacy key. */
  pseudonymSecret?: string | undefined
  /** The database with `export_runs`, so an in-flight run of a dead exporter is rolled back first. */
  db?: SettleDb | undefined
}) => Promise<ExportEraseResult>

/** Touches nothing, reports zero (tests, or a gateway without access to the export directory). */
export const noopExportEraser: ExportEraser = async () => ({ files: 0, lines: 0, uploadedFiles: 0 })

/** The eraser the gateway and `npm run gdpr:erase` use: the training-data erase. */
export const defaultExportEraser: ExportEraser = async ({ logger, ...args }) => {
  const r = await eraseUserFromExports({ ...args, logger: logger ?? createLogger({ level: 'silent' }) })
  return {
    files: r.files,
    lines: r.lines,
    uploadedFiles: r.uploadedFiles.length,
    uploaded: r.uploadedFiles,
    erased: r.erasedFiles,
    settledRunId: r.settledRun?.runId,
  }
}
