import { removeUploadedMarker } from '@loopdm/training-data/provider-copies'
import { FineTuneRefusedError } from '../errors.js'
import type { FinetuneJobRow } from '../repositories/finetune-jobs.repository.js'
import { sendProviderAlert } from '../services/budget.service.js'
import type { TunerDeps } from './deps.js'

/**
 * The provider answered job creation with 403 `training_not_available` (OpenAI: an organisation
 * without fine-tuning access, e.g. new or inactive since self-serve closed). Customer DMs must not
 * stay stored there for a job that cannot run: the just-uploaded file is deleted at once, the row is
 * marked `rejected` under this configuration (so the weekly trigger does not retry until FT_PROVIDER,
 * FT_BASE_MODEL or the key changes), and the shop is alerted like a budget alert.
 */
export async function refuseNotAvailable(
  row: FinetuneJobRow,
  err: unknown,
  deps: TunerDeps,
): Promise<FineTuneRefusedError> {
  const { provider, finetunes, logger } = deps
  let fileNote = 'nothing was uploaded'
  if (row.providerFileId) {
    try {
      await provider.deleteFile(row.providerFileId)
      await finetunes.clearUploaded(row.id)
      removeUploadedMarker(row.filePath)
      fileNote = `the uploaded file ${row.providerFileId} was deleted at ${provider.name}`
    } catch (e) {
      // Keep the id (and the .uploaded marker) so an operator or a GDPR erase can still remove it.
      fileNote = `deleting the uploaded file ${row.providerFileId} failed (${(e as Error).message}); delete it at ${provider.name}`
      logger.error(
        { finetune: row.id, providerFileId: row.providerFileId },
        'could not delete the refused upload',
      )
    }
  }
  const reason = `training_not_available: ${provider.name} refused fine-tuning for this account (${(err as Error).message}); ${fileNote}; not retried until FT_PROVIDER, FT_BASE_MODEL or the API key changes — set FT_PROVIDER=together or vllm, or LEARNING_BACKEND=exemplars`
  await finetunes.fail(row.id, 'rejected', reason)
  await sendProviderAlert({ kind: 'training_not_available', provider: provider.name, message: reason }, deps)
  return new FineTuneRefusedError(reason, 'training_not_available')
}
