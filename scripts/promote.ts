/**
 * `npm run promote -- <model | registry id> [--reason "…"] [--actor name]`: probes the model,
 * flips the registry's active row in one transaction and publishes the swap to every gateway.
 * `--canary <percent> [--min-replies N] [--max-hours H] [--margin M]` starts a canary instead:
 * the candidate answers that share of customers until the live signals decide (issue 19).
 */
import { startCanary } from '@loopdm/models/canary-control'
import { approveCandidate, promoteModel } from '@loopdm/models/promotion'
import { createRegistryRepository } from '@loopdm/models/registry'
import { parseArgs, say } from './lib/cli.js'
import { describePromotion, withPromotionDeps } from './lib/promotion-cli.js'

const { flags, positionals } = parseArgs(process.argv.slice(2))
const ref = positionals[0]
if (!ref) {
  say(
    'usage: npm run promote -- <model id | registry id> [--reason "…"] [--actor name] [--canary <percent> [--min-replies N] [--max-hours H] [--margin M]]',
  )
  process.exit(2)
}
const actor = typeof flags.actor === 'string' ? flags.actor : (process.env.USER ?? 'cli')
const reason = typeof flags.reason === 'string' ? flags.reason : undefined

const numFlag = (name: string, def?: number) => {
  const v = flags[name]
  if (v === undefined) return def
  const n = Number(v)
  if (v === true || !Number.isFinite(n)) {
    say(`✗ --${name} needs a number, got ${v === true ? 'nothing' : `"${v}"`}`)
    process.exit(2)
  }
  return n
}

const percent = numFlag('canary')
const canary = {
  minReplies: numFlag('min-replies', 200) as number,
  maxHours: numFlag('max-hours', 72) as number,
  margin: numFlag('margin'),
}

await withPromotionDeps(async (deps) => {
  if (percent !== undefined) {
    say(`• probing ${ref} and starting a ${percent}% canary …`)
    const run = await startCanary({ ...deps, ref, percent, ...canary, actor })
    say(
      `✓ canary ${run.id}: ${run.percent}% of customers on ${run.candidateModel} (minReplies ${run.minReplies}, maxHours ${run.maxHours}); follow it with GET /admin/canary`,
    )
    return
  }
  say(`• probing ${ref} …`)
  const row = await createRegistryRepository(deps.db).findByIdOrModel(ref)
  // A gated candidate is approved (its evaluation metrics go into the promotion log).
  const r =
    row && (row.status === 'approved_pending' || row.status === 'candidate')
      ? await approveCandidate({ ...deps, ref, actor, reason })
      : await promoteModel({ ...deps, ref, actor, reason: reason ?? `manual promotion by ${actor}` })
  say(describePromotion(r))
})
