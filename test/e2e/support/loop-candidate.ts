import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Pool } from '@loopdm/db/pool'
import type { Config } from '@loopdm/platform/config'
import { createLogger } from '@loopdm/platform/logger'
import { uniqueId } from '@loopdm/testing/fixtures'
import { createExportService, type ExportResult } from '../../../apps/exporter/src/services/export.service.js'
import { createTunerDeps } from '../../../apps/tuner/src/jobs/tune.worker.js'
import {
  type ExemplarTuneResult,
  exemplarsLearner,
} from '../../../apps/tuner/src/learners/exemplars.learner.js'

/** A knitwear shop's questions and its staff's answers (no other suite uses these texts). */
export const SHOP_PAIRS: Array<[string, string]> = [
  [
    'Is the moss green beanie still in stock?',
    'Yes, the moss green beanie is in stock — €29, ships in 2 days.',
  ],
  ['Can I return a scarf that does not fit?', 'Returns are free within 30 days; just keep the label on.'],
  ['Do you ship knitwear to Norway?', 'We ship to Norway in 4–6 days; customs fees are on us.'],
  ['How do I wash the merino cardigan?', 'Hand wash the merino cardigan cold and dry it flat.'],
  ['Do you knit custom sizes?', 'Custom sizes take about three weeks and cost €15 extra.'],
  ['Is the alpaca wool itchy?', 'Our baby alpaca is soft and not itchy, even on bare skin.'],
  ['Do you sell yarn on its own?', 'Our hand-dyed yarn is €12 a skein in the studio shop.'],
  ['When does the winter collection launch?', 'The winter collection launches on the first of November.'],
  ['Can I gift wrap an order?', 'Gift wrapping is €3 and comes with a handwritten card.'],
  ['Are your dyes plant based?', 'All our dyes are plant based, from madder, weld and indigo.'],
  ['Do you repair holes in old jumpers?', 'We darn holes from €10; bring the jumper to the studio.'],
  ['Is there a discount for students?', 'Students get 10% off with a valid card, online and in store.'],
]

export interface LoopCandidate {
  /** The candidate policy's registry key (`exemplars:<hash12>`). */
  candidate: string
  policyId: number
  servingModel: string
  export: ExportResult
  learned: ExemplarTuneResult
  /** Deletes the seeded turns, the export directory and the exemplar set (after the registry rows). */
  cleanup(): Promise<void>
}

/**
 * The loop's first two steps, in process, for the default backend: staff-answered DMs (customer
 * turn + `human` answer, each customer writing with a greeting the gold set does not carry) are
 * stored, the real exporter writes a backfill file of exactly their window into a fresh EXPORT_DIR,
 * and the real exemplar learner builds an exemplar set from it and registers the candidate policy.
 */
export async function candidateFromLoop(pool: Pool, config: Config): Promise<LoopCandidate> {
  const logger = createLogger({ level: 'silent' })
  const exportDir = await mkdtemp(join(tmpdir(), 'loopdm-console-export-'))
  const cfg: Config = { ...config, export: { ...config.export, dir: exportDir } }
  const users = SHOP_PAIRS.map((_, i) => uniqueId(`console-shop-${i}`))
  // A window of their own, two days back, so the backfill reads these turns and no other suite's.
  const base = Date.now() - 50 * 3600_000 - Math.floor(Math.random() * 3600_000)
  const at = (min: number) => new Date(base + min * 60_000).toISOString()
  await pool.query(
    `insert into conversation_messages (ig_user_id, role, content, author, created_at)
     select u, r, c, a, t::timestamptz
       from unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[]) as x(u, r, c, a, t)`,
    [
      users.flatMap((u) => [u, u]),
      users.flatMap(() => ['user', 'assistant']),
      SHOP_PAIRS.flatMap(([q, a]) => [`Hi! ${q}`, a]),
      users.flatMap(() => [null, 'human']),
      users.flatMap((_, i) => [at(i * 2), at(i * 2 + 1)]),
    ],
  )
  const exporter = createExportService({ db: pool, config: cfg, logger, exportDir })
  const ex = await exporter.run({
    trigger: 'manual',
    dryRun: false,
    since: at(-1),
    until: at(SHOP_PAIRS.length * 2),
  })
  const tuner = createTunerDeps({ config: cfg, logger, pool })
  let learned: ExemplarTuneResult
  try {
    learned = (await exemplarsLearner.tune(
      { trigger: 'manual', file: ex.files[0] },
      tuner,
    )) as ExemplarTuneResult
  } finally {
    // Nothing runs the evaluate job the learner enqueued here: the test evaluates in process.
    await tuner.evaluateQueue.obliterate({ force: true }).catch(() => {})
    await tuner.close()
  }
  if (!learned.policy || !learned.set)
    throw new Error(`the exemplar learner built nothing (${learned.outcome})`)
  const setId = learned.set.id
  return {
    candidate: learned.policy.model,
    policyId: learned.policy.id,
    servingModel: learned.policy.servingModel,
    export: ex,
    learned,
    async cleanup() {
      await pool.query('delete from conversation_messages where ig_user_id = any($1)', [users])
      await pool.query('delete from export_pending where ig_user_id = any($1)', [users])
      if (learned.outcome === 'built') await pool.query('delete from exemplar_sets where id = $1', [setId])
      await rm(exportDir, { recursive: true, force: true })
    },
  }
}
