import { eraseUserFromExports } from '@loopdm/exporter/services/gdpr-export.service'
import { createLogger, type Logger } from '@loopdm/shared/logger'
import { readUploadedMarker } from '@loopdm/shared/provider-copies'

/**
 * The seam to the exporter's GDPR hook (`eraseUserFromExports` in
 * `@loopdm/exporter/services/gdpr-export.service`): removes a user's lines from every export file
 * (daily, master, gzipped, archived), found through the sidecar manifests' pseudonymous user keys.
 * `uploadedFiles` counts files that held the user's lines but were already uploaded to the
 * provider (the local copy is cleaned); `uploaded` names them with the provider file id from their
 * `<file>.uploaded` marker (written by the tuner), so the erase can delete the provider's copy.
 */
export interface ExportEraseResult {
  files: number
  lines: number
  uploadedFiles: number
  uploaded?: UploadedCopy[]
}

export interface UploadedCopy {
  /** The local export file (cleaned). */
  file: string
  /** The provider's file id from the marker; null when the marker is unreadable. */
  fileId: string | null
}

export type ExportEraser = (args: {
  exportDir: string
  igUserId: string
  logger?: Logger | undefined
}) => Promise<ExportEraseResult>

/** Touches nothing, reports zero (tests, or a gateway without access to the export directory). */
export const noopExportEraser: ExportEraser = async () => ({ files: 0, lines: 0, uploadedFiles: 0 })

/** The eraser the gateway and `npm run gdpr:erase` use: the exporter's hook. */
export const defaultExportEraser: ExportEraser = async ({ exportDir, igUserId, logger }) => {
  const r = await eraseUserFromExports({
    exportDir,
    igUserId,
    logger: logger ?? createLogger({ level: 'silent' }),
  })
  const uploaded = r.uploadedFiles.map((file) => ({ file, fileId: readUploadedMarker(file)?.fileId ?? null }))
  return { files: r.files, lines: r.lines, uploadedFiles: r.uploadedFiles.length, uploaded }
}
