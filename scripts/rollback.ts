/**
 * `npm run rollback [-- --reason "…"]`: promotes the previously active model (the same probe →
 * transaction → publish path as a promotion; BASE_MODEL when nothing earlier is on record).
 */
import { rollbackModel } from '@loopdm/models/promotion'
import { parseArgs, say } from './lib/cli.js'
import { describePromotion, withPromotionDeps } from './lib/promotion-cli.js'

const { flags } = parseArgs(process.argv.slice(2))
const actor = typeof flags.actor === 'string' ? flags.actor : (process.env.USER ?? 'cli')
await withPromotionDeps(async (deps) => {
  const r = await rollbackModel({
    ...deps,
    actor,
    reason: typeof flags.reason === 'string' ? flags.reason : undefined,
  })
  say(describePromotion(r))
})
