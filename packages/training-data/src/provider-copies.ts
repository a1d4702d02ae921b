import { readFileSync, rmSync, writeFileSync } from 'node:fs'
import type { Logger } from '@loopdm/platform/logger'
import { OpenAI } from '@loopdm/platform/openai'
import { uploadedMarkerPath } from './export-layout.js'

/**
 * Provider copies of training files. After an upload the tuner writes `<file>.uploaded` beside the
 * local file; a GDPR erase that cleans that file reads it to delete the provider's copy too — at
 * once, or (`deleteWhenDone`) by the tuner when the fine-tune still reading it ends.
 */
export interface UploadedMarker {
  /** The provider's file id. */
  fileId: string
  /** sha256 of the local file as uploaded. */
  sha256: string
  /** ISO time of the upload. */
  at: string
  /** Set by a GDPR erase while a fine-tune still used the file: the tuner deletes it when the job ends. */
  deleteWhenDone?: boolean
}

/** The marker beside `file`, or null when there is none (or it is unreadable). */
export function readUploadedMarker(file: string): UploadedMarker | null {
  try {
    const m = JSON.parse(readFileSync(uploadedMarkerPath(file), 'utf8')) as Partial<UploadedMarker>
    return typeof m.fileId === 'string' && m.fileId
      ? {
          fileId: m.fileId,
          sha256: String(m.sha256 ?? ''),
          at: String(m.at ?? ''),
          ...(m.deleteWhenDone ? { deleteWhenDone: true } : {}),
        }
      : null
  } catch {
    return null
  }
}

export function writeUploadedMarker(file: string, m: UploadedMarker): void {
  writeFileSync(uploadedMarkerPath(file), `${JSON.stringify(m)}\n`)
}

export function removeUploadedMarker(file: string): void {
  rmSync(uploadedMarkerPath(file), { force: true })
}

/** Deletes a file at the provider; one that is already gone (404) counts as deleted. */
export async function deleteProviderFile(sdk: Pick<OpenAI, 'files'>, fileId: string): Promise<void> {
  try {
    await sdk.files.delete(fileId)
  } catch (err) {
    if (err instanceof OpenAI.NotFoundError) return
    throw err
  }
}

/**
 * Called by the tuner when a fine-tune ends: if a GDPR erase asked for the provider copy of its
 * training file to go once the job was over, delete it now. Never throws (logged instead).
 */
export async function deleteDeferredProviderCopy(
  sdk: Pick<OpenAI, 'files'>,
  file: string,
  fileId: string | null,
  logger: Logger,
): Promise<boolean> {
  const m = readUploadedMarker(file)
  if (!m?.deleteWhenDone || !fileId || m.fileId !== fileId) return false
  try {
    await deleteProviderFile(sdk, fileId)
    removeUploadedMarker(file)
    logger.info(
      { fileId },
      'gdpr: deleted the provider copy of an erased training file (its fine-tune ended)',
    )
    return true
  } catch (err) {
    logger.warn(
      { fileId, err: (err as Error).message },
      'gdpr: could not delete the provider copy; delete it by hand',
    )
    return false
  }
}
