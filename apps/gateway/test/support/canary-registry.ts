import type { Pool } from '@loopdm/db/pool'
import { createRegistryRepository, type ModelStatus } from '@loopdm/models/registry'
import { snapshotRegistry } from '@loopdm/testing/registry-fixture'

/**
 * The registry and rollout tables as a canary suite needs them: no canary or shadow run, no
 * active model, and each candidate registered with status `candidate`; `restore()` puts every
 * model's status back, deletes the models the suite created (those that did not exist before) and
 * the runs it left.
 */
export async function canaryRegistry(
  pool: Pool,
  candidates: Array<{ model: string; kind: 'base' | 'fine_tuned' }>,
) {
  await pool.query('delete from canary_runs')
  await pool.query('delete from shadow_runs')
  const snapshot = await snapshotRegistry(pool)
  await snapshot.clearActive()
  const registry = createRegistryRepository(pool)
  const before = new Map<string, ModelStatus | null>()
  for (const { model, kind } of candidates) {
    before.set(model, (await registry.findByIdOrModel(model))?.status ?? null)
    await registry.upsertModel({ model, kind, status: 'candidate' })
    await registry.setStatus(model, 'candidate')
  }
  return {
    async restore(): Promise<void> {
      await pool.query('delete from canary_runs')
      await pool.query('delete from shadow_runs')
      await snapshot.restore([...before].filter(([, s]) => s === null).map(([m]) => m))
      for (const [m, s] of before)
        if (s) await pool.query('update models set status = $2 where model = $1', [m, s])
    },
  }
}
