import type { Pool } from '@loopdm/db/pool'
import { testConfig, testPool, uniqueId } from '@loopdm/testing/fixtures'
import { snapshotRegistry } from '@loopdm/testing/registry-fixture'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createQualityService, formatQualityMarkdown } from '../src/services/quality.service.js'

describe('quality signals', () => {
  let db: Pool
  let registryState: Awaited<ReturnType<typeof snapshotRegistry>>
  const ft = `ft:gpt-3.5-turbo-0125:loopdm::${uniqueId('q')}`
  const users = [uniqueId('qa'), uniqueId('qb'), uniqueId('qc'), uniqueId('qd')]
  // A period of its own (far future), so rows of other suites never count.
  const at = (day: number, min = 0) => new Date(Date.UTC(2091, 0, day, 12, min))
  const config = testConfig({ BASE_MODEL: 'gpt-4o-mini' })

  beforeAll(async () => {
    db = await testPool()
    registryState = await snapshotRegistry(db)
    await db.query(
      `insert into model_promotions (from_model, to_model, actor, reason, created_at) values
        (null, 'gpt-4o-mini', 'test', 'base', $1), ('gpt-4o-mini', $2, 'test', 'ft', $3)`,
      [at(1), ft, at(15)],
    )
    const turns: Array<[string, string, string | null, Date]> = [
      // Before the promotion: base answers user a; user b's last turn is not answered.
      [users[0] as string, 'user', null, at(5)],
      [users[0] as string, 'assistant', 'gpt-4o-mini', at(5, 1)],
      [users[1] as string, 'user', null, at(6)],
      // After: the ft model answers c; d gets a base-model reply while ft is active → a fallback.
      [users[2] as string, 'user', null, at(20)],
      [users[2] as string, 'assistant', ft, at(20, 1)],
      [users[3] as string, 'user', null, at(21)],
      [users[3] as string, 'assistant', 'gpt-4o-mini', at(21, 1)],
    ]
    for (const [u, role, model, t] of turns)
      await db.query(
        'insert into conversation_messages (ig_user_id, role, content, model, created_at) values ($1, $2, $3, $4, $5)',
        [u, role, 'x', model, t],
      )
    const signals = await db.query("select to_regclass('message_signals')::text as t")
    if (signals.rows[0]?.t) {
      await db.query(
        `insert into message_signals (ig_user_id, mid, reaction, action, model, created_at) values
          ($1, $2, 'love', 'react', $3, $4), ($1, $5, 'love', 'react', $3, $4)`,
        [users[2], uniqueId('m'), ft, at(22), uniqueId('m')],
      )
    }
  })
  afterAll(async () => {
    await db.query('delete from conversation_messages where ig_user_id = any($1)', [users])
    await db.query('delete from message_signals where ig_user_id = any($1)', [users]).catch(() => {})
    await registryState.restore([])
    await db.end()
  })

  it('reports replies, fallbacks, completion and reactions per model', async () => {
    const sut = createQualityService({ db, config })
    const r = await sut.report({ from: at(1), to: at(31) })
    const base = r.models.find((m) => m.model === 'gpt-4o-mini')
    const tuned = r.models.find((m) => m.model === ft)
    expect(base).toMatchObject({ replies: 2, fallbacks: 1, conversations: 2, completed: 1 })
    expect(tuned).toMatchObject({ replies: 1, fallbacks: 0, conversations: 2, completed: 2 })
    expect(r.overall).toMatchObject({ conversations: 4, completed: 3, completionRate: 0.75 })
    const hasSignals = (await db.query("select to_regclass('message_signals')::text as t")).rows[0]?.t
    if (hasSignals) expect(tuned?.reactions).toBe(2)
    const md = formatQualityMarkdown(r)
    expect(md).toContain('## Quality signals from production')
    expect(md).toContain(`| ${ft} | 1 |`)
  })
})
