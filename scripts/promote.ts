/**
 * `npm run promote -- <model | registry id> [--reason "…"] [--actor name]`: probes the model,
 * flips the registry's active row in one transaction and publishes the swap to every gateway.
 */
import { approveCandidate, promoteModel } from '@loopdm/models/promotion'
import { createRegistryRepository } from '@loopdm/models/registry'
import { parseArgs, say } from './lib/cli.js'
import { describePromotion, withPromotionDeps } from './lib/promotion-cli.js'

const { flags, positionals } = parseArgs(process.argv.slice(2))
const ref = positionals[0]
if (!ref) {
  say('usage: npm run promote -- <model id | registry id> [--reason "…"] [--actor name]')
  process.exit(2)
}
const actor = typeof flags.actor === 'string' ? flags.actor : (process.env.USER ?? 'cli')
const reason = typeof flags.reason === 'string' ? flags.reason : undefined

await withPromotionDeps(async (deps) => {
  say(`• probing ${ref} …`)
  const row = await createRegistryRepository(deps.db).findByIdOrModel(ref)
  // A gated candidate is approved (its evaluation metrics go into the promotion log).
  const r =
    row && (row.status === 'approved_pending' || row.status === 'candidate')
      ? await approveCandidate({ ...deps, ref, actor, reason })
      : await promoteModel({ ...deps, ref, actor, reason: reason ?? `manual promotion by ${actor}` })
  say(describePromotion(r))
})
