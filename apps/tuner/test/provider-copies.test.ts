import { writeFileSync } from 'node:fs'
import type { Pool } from '@loopdm/db/pool'
import { eraseProviderCopies } from '@loopdm/models/provider-copies'
import { TEST_PSEUDONYM_SECRET, testPool, uniqueId } from '@loopdm/testing/fixtures'
import { type OpenAILocal, startOpenAILocal } from '@loopdm/testing/openai-local'
import { eraseUserFromExports } from '@loopdm/training-data/export-erase'
import { MASTER_FILE, manifestPath } from '@loopdm/training-data/export-layout'
import { pseudonymousUserKey } from '@loopdm/training-data/pseudonym'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runPoll } from '../src/jobs/poll.processor.js'
import { runTune } from '../src/jobs/tune.processor.js'
import { sha256File } from '../src/services/training-data.service.js'
import { dropQueue, makeDeps, tmpExportDir, tunerTestConfig, writeTrainingFile } from './helpers.js'

/**
 * Every upload of a training file is a provider copy (issue 17: the weekly tune of the master
 * uploads a new file each time, the `.uploaded` marker kept only the last id). Against
 * openai-local through the real SDK.
 */
let local: OpenAILocal
let pool: Pool
const shas: string[] = []

beforeAll(async () => {
  local = await startOpenAILocal({ port: 0, ftStepMs: 20 })
  pool = await testPool()
})
afterAll(async () => {
  await pool.query('delete from finetune_jobs where file_sha256 = any($1)', [shas])
  await pool.end()
  await local.close()
})

/** The master as the exporter leaves it: `n` lines, the first of them by `user`. */
function writeMaster(dir: string, n: number, user: string): string {
  const file = writeTrainingFile(dir, n, MASTER_FILE)
  const keys = Array.from({ length: n }, (_, i) =>
    pseudonymousUserKey(i === 0 ? user : `someone-${i}`, TEST_PSEUDONYM_SECRET),
  )
  writeFileSync(manifestPath(file), keys.map((k) => `${k}\t2032-01-01\n`).join(''))
  return file
}

async function tuneToTheEnd(deps: ReturnType<typeof makeDeps>, file: string) {
  shas.push(await sha256File(file))
  const t = await runTune({ file }, deps)
  let r = await runPoll({ finetuneJobId: t.finetune?.providerJobId }, deps)
  while (!r.done) {
    await new Promise((res) => setTimeout(res, 20))
    r = await runPoll({ finetuneJobId: t.finetune?.providerJobId }, deps)
  }
  expect(r.status).toBe('succeeded')
  return (await deps.finetunes.findBySha(await sha256File(file)))?.providerFileId as string
}

const exists = async (deps: ReturnType<typeof makeDeps>, id: string) =>
  deps.sdk.files.retrieve(id).then(
    () => true,
    (err: { status?: number }) => (err.status === 404 ? false : Promise.reject(err)),
  )

describe('provider copies of training files', () => {
  describe('when the master was tuned three weeks running (FT_DELETE_TRAINING_FILES=false)', () => {
    it('the erase deletes all three copies and reports each exactly', async () => {
      const dir = tmpExportDir()
      const deps = makeDeps(tunerTestConfig(local.baseURL, dir, { FT_DELETE_TRAINING_FILES: 'false' }), pool)
      const user = uniqueId('weekly')
      try {
        const ids: string[] = []
        for (let week = 0; week < 3; week++)
          ids.push(await tuneToTheEnd(deps, writeMaster(dir, 12 + week, user)))
        expect(new Set(ids).size).toBe(3)
        for (const id of ids) expect(await exists(deps, id)).toBe(true)

        const erased = await eraseUserFromExports({
          exportDir: dir,
          igUserId: user,
          pseudonymSecret: TEST_PSEUDONYM_SECRET,
        })
        expect(erased.lines).toBe(1)
        const r = await eraseProviderCopies({ db: pool, files: erased.erasedFiles, sdk: deps.sdk })
        expect(r).toMatchObject({ deleted: 3, alreadyGone: 0, deferred: 0, failed: 0 })
        expect(r.ids.deleted.sort()).toEqual([...ids].sort())
        for (const id of ids) expect(await exists(deps, id)).toBe(false)

        // Asked again (a rerun of the erase): nothing left to delete, each copy reported gone.
        const again = await eraseProviderCopies({ db: pool, files: erased.erasedFiles, sdk: deps.sdk })
        expect(again).toMatchObject({ deleted: 0, alreadyGone: 3, failed: 0 })
      } finally {
        await dropQueue(deps.tuneQueue)
        await dropQueue(deps.evaluateQueue)
        await deps.close()
      }
    }, 60_000)
  })

  describe('when FT_DELETE_TRAINING_FILES is on (the default)', () => {
    it('deletes the training file at the provider once its job ends; the erase reports it already gone', async () => {
      const dir = tmpExportDir()
      const config = tunerTestConfig(local.baseURL, dir)
      expect(config.finetune.deleteTrainingFiles).toBe(true)
      const deps = makeDeps(config, pool)
      const user = uniqueId('default')
      try {
        const id = await tuneToTheEnd(deps, writeMaster(dir, 12, user))
        expect(await exists(deps, id)).toBe(false)
        const erased = await eraseUserFromExports({
          exportDir: dir,
          igUserId: user,
          pseudonymSecret: TEST_PSEUDONYM_SECRET,
        })
        const r = await eraseProviderCopies({ db: pool, files: erased.erasedFiles, sdk: deps.sdk })
        expect(r).toMatchObject({ deleted: 0, alreadyGone: 1, failed: 0 })
      } finally {
        await dropQueue(deps.tuneQueue)
        await dropQueue(deps.evaluateQueue)
        await deps.close()
      }
    }, 60_000)
  })

  describe('when the provider refuses the deletion', () => {
    it('counts the copy as failed, not deleted', async () => {
      const dir = tmpExportDir()
      const deps = makeDeps(tunerTestConfig(local.baseURL, dir, { FT_DELETE_TRAINING_FILES: 'false' }), pool)
      const user = uniqueId('refused')
      try {
        const id = await tuneToTheEnd(deps, writeMaster(dir, 12, user))
        const erased = await eraseUserFromExports({
          exportDir: dir,
          igUserId: user,
          pseudonymSecret: TEST_PSEUDONYM_SECRET,
        })
        const r = await eraseProviderCopies({
          db: pool,
          files: erased.erasedFiles,
          deleters: {
            openai: async () => {
              throw Object.assign(new Error('injected: 500 from the files API'), { status: 500 })
            },
          },
        })
        expect(r).toMatchObject({ deleted: 0, failed: 1, ids: { failed: [id] } })
        expect(await exists(deps, id)).toBe(true)
      } finally {
        await dropQueue(deps.tuneQueue)
        await dropQueue(deps.evaluateQueue)
        await deps.close()
      }
    }, 60_000)
  })
})
