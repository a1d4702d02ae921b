import type { Logger } from '@loopdm/shared/logger'

/**
 * The seam to the exporter's GDPR hook (`eraseUserFromExports` in
 * `@loopdm/exporter/services/gdpr-export.service`): removes a user's lines from export files that
 * are not yet uploaded (gzipped ones included), found through the export manifest's pseudonymous
 * user keys. `uploadedFiles` counts files that held the user's lines but were already uploaded.
 */
export interface ExportEraseResult {
  files: number
  lines: number
  uploadedFiles: number
}

export type ExportEraser = (args: {
  exportDir: string
  igUserId: string
  logger?: Logger | undefined
}) => Promise<ExportEraseResult>

/** Used where no exporter is wired: touches nothing, reports zero. */
export const noopExportEraser: ExportEraser = async () => ({ files: 0, lines: 0, uploadedFiles: 0 })

/**
 * The eraser the gateway and `npm run gdpr:erase` use by default. Until the exporter's hook is on
 * main this is the no-op; afterwards it is `eraseUserFromExports`.
 */
export const defaultExportEraser: ExportEraser = noopExportEraser
