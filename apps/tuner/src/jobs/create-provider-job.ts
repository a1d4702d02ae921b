import { bindReservation, releaseReservation } from '@loopdm/models/budget-reservation'
import { writeUploadedMarker } from '@loopdm/training-data/provider-copies'
import { FineTuneFailedError, FineTuneRefusedError } from '../errors.js'
import type { FinetuneJobRow } from '../repositories/finetune-jobs.repository.js'
import type { TunerDeps } from './deps.js'
import { refuseNotAvailable } from './rejection.js'
import { ensurePoll } from './schedule-poll.js'

/** The provider's suffix for our models: short, ':'-free, and tied to the data. */
export const suffixFor = (sha256: string) => `loopdm-${sha256.slice(0, 8)}`

/**
 * `<file>.uploaded` beside the training file: a GDPR erase (`@loopdm/training-data/export-erase`) then
 * reports that the provider holds a copy of the erased user's lines, so it can be deleted there too.
 */
function markUploaded(filePath: string, fileId: string, sha256: string, deps: TunerDeps): void {
  try {
    writeUploadedMarker(filePath, { fileId, sha256, at: new Date().toISOString() })
  } catch (err) {
    deps.logger.warn({ err: (err as Error).message, fileId }, 'could not write the .uploaded marker')
  }
}

/** Step 4a: upload unless recorded. */
async function ensureUploaded(row: FinetuneJobRow, deps: TunerDeps): Promise<FinetuneJobRow> {
  if (row.providerFileId) return row
  const file = await deps.provider.upload(row.filePath)
  await deps.finetunes.setUploaded(row.id, file.fileId)
  markUploaded(row.filePath, file.fileId, row.fileSha256, deps)
  deps.logger.info(
    { finetune: row.id, provider: deps.provider.name, providerFileId: file.fileId, bytes: file.bytes },
    'training file uploaded',
  )
  return { ...row, providerFileId: file.fileId }
}

/** Step 4: upload → create the job (unless one exists for the file) → ledger → first poll. */
export async function createProviderJob(
  start: FinetuneJobRow,
  opts: { resumed: boolean; deps: TunerDeps },
): Promise<FinetuneJobRow> {
  const { deps } = opts
  const { provider, finetunes, config } = deps
  let row = start
  try {
    row = await ensureUploaded(row, deps)
    const fileId = row.providerFileId as string
    // A crash between creating the job and recording it must not create a second one.
    const found = opts.resumed ? await provider.findJobForFile(fileId) : null
    const job =
      found ??
      (await provider.createJob({
        baseModel: row.baseModel,
        fileId,
        nEpochs: row.nEpochs,
        suffix: row.suffix ?? suffixFor(row.fileSha256),
      }))
    await finetunes.setCreated(row.id, job.id, job.status)
    row = { ...row, providerJobId: job.id, status: job.status }
  } catch (err) {
    const kind = provider.classify(err)
    // No provider job, nothing billed: the budget reservation goes (a transient error keeps it
    // for the retry, which re-reserves the same data idempotently).
    if (kind !== 'transient') await releaseReservation(deps.pool, row.fileSha256)
    if (kind === 'not_available') throw await refuseNotAvailable(row, err, deps)
    if (kind === 'quota') {
      const reason = `${provider.name} is out of quota (insufficient_quota): add credit or raise the limit in the provider's billing settings, then run the tune again — ${(err as Error).message}`
      await finetunes.fail(row.id, 'failed', reason)
      deps.logger.error({ finetune: row.id, provider: provider.name }, reason)
      throw new FineTuneRefusedError(reason, 'insufficient_quota')
    }
    if (kind === 'permanent') {
      const reason = `provider refused the fine-tune: ${(err as Error).message}`
      await finetunes.fail(row.id, 'failed', reason)
      throw new FineTuneFailedError(reason)
    }
    throw err
  }
  // The reservation becomes the job's ledger row (settled when it ends); without one, record it.
  await bindReservation(deps.pool, row.fileSha256, row.providerJobId as string)
  await deps.ledger.recordFineTune({
    model: row.baseModel,
    trainedTokens: row.tokens * row.nEpochs,
    costUsd: row.estimatedCostUsd,
    ref: row.providerJobId as string,
  })
  await ensurePoll(deps.tuneQueue, row, config.finetune.pollIntervalMs)
  return row
}
