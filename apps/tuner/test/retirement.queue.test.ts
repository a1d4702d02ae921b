import type { Pool } from '@loopdm/db/pool'
import { createOpenAISdk } from '@loopdm/platform/openai'
import { createQueue } from '@loopdm/queues/bullmq'
import { RETIREMENT_JOB, RETIREMENT_QUEUE, SCHEDULERS } from '@loopdm/queues/contracts'
import { testConfig, testPool } from '@loopdm/testing/fixtures'
import { UnrecoverableError } from 'bullmq'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { processRetirement, upsertRetirementSchedule } from '../src/jobs/retirement.processor.js'
import { dropQueue, silentLogger } from './helpers.js'

describe('the retirement queue', () => {
  const config = testConfig({ CLEANUP_CRON: '0 5 2 * *' })
  const retirementQueue = createQueue(RETIREMENT_QUEUE, { config, logger: silentLogger })
  let pool: Pool

  beforeAll(async () => {
    pool = await testPool()
  })

  afterAll(async () => {
    await dropQueue(retirementQueue)
    await retirementQueue.close()
    await pool.end()
  })

  describe('when its owner upserts the schedule from every replica', () => {
    it('keeps one retire-models scheduler on CLEANUP_CRON', async () => {
      await upsertRetirementSchedule({ retirementQueue, config })
      await upsertRetirementSchedule({ retirementQueue, config })
      const sut = await retirementQueue.getJobSchedulers()
      expect(sut.map((s) => [s.key, s.name, s.pattern])).toEqual([
        [SCHEDULERS.retireModels, RETIREMENT_JOB.retireModels, '0 5 2 * *'],
      ])
    })
  })

  describe('when a job is not a retirement job', () => {
    const deps = () => ({ db: pool, sdk: createOpenAISdk({ config }), config, logger: silentLogger })

    it('rejects an unknown job name as unrecoverable', async () => {
      const err = (await processRetirement({ name: 'nope', data: {}, id: 'z' }, deps()).catch(
        (e) => e,
      )) as Error
      expect(err).toBeInstanceOf(UnrecoverableError)
      expect(err.message).toMatch(/unknown retirement job "nope"/)
    })

    it('rejects an invalid payload as unrecoverable', async () => {
      const job = { name: RETIREMENT_JOB.retireModels, data: { dryRun: 'yes' }, id: 'y' }
      const err = (await processRetirement(job, deps()).catch((e) => e)) as Error
      expect(err).toBeInstanceOf(UnrecoverableError)
      expect(err.message).toMatch(/invalid retirement payload/)
    })
  })
})
