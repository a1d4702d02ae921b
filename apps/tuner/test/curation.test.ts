import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Pool } from '@loopdm/db/pool'
import { createOpenAISdk, type OpenAI } from '@loopdm/platform/openai'
import { testPool, uniqueId } from '@loopdm/testing/fixtures'
import { type OpenAILocal, startOpenAILocal } from '@loopdm/testing/openai-local'
import { toFile } from 'openai'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runTune } from '../src/jobs/tune.processor.js'
import { formatDataReport } from '../src/services/training-data.service.js'
import { makeDeps, tmpExportDir, tunerTestConfig } from './helpers.js'

/**
 * A master as the curated exporter writes it: multi-turn examples (earlier answers weight 0, the
 * taught one weight 1) and a manifest naming each answer's source.
 */
function writeMaster(dir: string, sources: Array<'human' | 'import' | 'bot'>): string {
  const tag = uniqueId('m')
  const lines = sources.map((_, i) =>
    JSON.stringify({
      messages: [
        { role: 'system', content: 'You are the shop assistant.' },
        { role: 'user', content: `hi, is order ${i} ready? (${tag})` },
        { role: 'assistant', content: `Let me check order ${i}.`, weight: 0 },
        { role: 'user', content: `and can it ship to Berlin? (${tag})` },
        { role: 'assistant', content: `Yes, order ${i} ships to Berlin within 3 days.`, weight: 1 },
      ],
    }),
  )
  const path = join(dir, 'master_fine_tune.jsonl')
  writeFileSync(path, `${lines.join('\n')}\n`)
  writeFileSync(
    `${path}.manifest`,
    sources.map((s, i) => `key${i}\t2040-01-0${1 + (i % 9)}\t${s}\n`).join(''),
  )
  return path
}

describe('tune on curated data', () => {
  let local: OpenAILocal
  let pool: Pool
  beforeAll(async () => {
    local = await startOpenAILocal({ port: 0, ftStepMs: 10 })
    pool = await testPool()
  })
  afterAll(async () => {
    await pool.end()
    await local.close()
  })

  describe('when the human + import share is below FT_MIN_HUMAN_SHARE', () => {
    it('refuses naming the numbers, and trains with force', async () => {
      const dir = tmpExportDir()
      writeMaster(dir, [...Array(3).fill('human'), ...Array(2).fill('import'), ...Array(15).fill('bot')])
      const deps = makeDeps(tunerTestConfig(local.baseURL, dir), pool)
      const dry = await runTune({ dryRun: true }, deps)
      expect(dry.report.curation?.sources).toEqual({ human: 3, import: 2, bot: 15, unknown: 0 })
      expect(dry.refusal).toContain(
        'human + import answers are 25.0% of the data (human 3 + import 2 of 20 examples; bot 15), below FT_MIN_HUMAN_SHARE 0.3',
      )
      expect(dry.refusal).toContain('--force')
      await expect(runTune({}, deps)).rejects.toMatchObject({ name: 'TrainingDataRefusedError' })
      const forced = await runTune({ dryRun: true, force: true }, deps)
      expect(forced.refusal).toBeNull()
      expect(formatDataReport(forced.report).join('\n')).toMatch(
        /sources\s+human 3, import 2, bot 15; human\+import share 25\.0%/,
      )
      await deps.close()
    })
  })

  describe('when the master is larger than one tune may take', () => {
    it('trains on the newest examples within FT_MAX_EXAMPLES and says what it left out', async () => {
      const dir = tmpExportDir()
      const master = writeMaster(dir, Array(30).fill('human'))
      const deps = makeDeps(tunerTestConfig(local.baseURL, dir, { FT_MAX_EXAMPLES: '12' }), pool)
      const r = await runTune({ dryRun: true }, deps)
      expect(r.report.examples).toBe(12)
      expect(r.report.curation?.window).toMatchObject({ total: 30, examples: 12, leftOut: 18 })
      const newest = readFileSync(master, 'utf8').split('\n').slice(18, 30)
      expect(readFileSync(r.report.file, 'utf8')).toBe(`${newest.join('\n')}\n`)
      const manifest = readFileSync(`${master}.manifest`, 'utf8').split('\n').slice(18, 30)
      expect(readFileSync(`${r.report.file}.manifest`, 'utf8')).toBe(`${manifest.join('\n')}\n`)
      expect(formatDataReport(r.report).join('\n')).toContain(
        'newest 12 of 30 examples; left out the 18 oldest (bounded by FT_MAX_EXAMPLES)',
      )
      await deps.close()
    })

    it('keeps self-training past EXPORT_MAX_BYTES: the window is cut to the file-size limit', async () => {
      const dir = tmpExportDir()
      const master = writeMaster(dir, Array(40).fill('human'))
      // Every line of the newest 15 has the same length (two-digit order numbers).
      const line = Buffer.byteLength(readFileSync(master, 'utf8').split('\n')[39] as string) + 1
      const deps = makeDeps(
        tunerTestConfig(local.baseURL, dir, { EXPORT_MAX_BYTES: String(line * 15) }),
        pool,
      )
      const r = await runTune({ dryRun: true }, deps)
      expect(r.refusal).toBeNull()
      expect(r.report.examples).toBe(15)
      expect(r.report.bytes).toBeLessThanOrEqual(line * 15)
      expect(r.report.curation?.window).toMatchObject({ total: 40, leftOut: 25, limitedBy: 'file size' })
      await deps.close()
    })
  })

  describe('multi-turn examples with weight 0', () => {
    it('pass the tuner’s validation and openai-local’s (the job succeeds)', async () => {
      const dir = tmpExportDir()
      const master = writeMaster(dir, Array(12).fill('human'))
      const deps = makeDeps(tunerTestConfig(local.baseURL, dir), pool)
      const r = await runTune({ dryRun: true }, deps)
      expect(r.report.problems).toBe(0)
      expect(r.refusal).toBeNull()
      await deps.close()
      const sdk: OpenAI = createOpenAISdk({ config: tunerTestConfig(local.baseURL, dir), maxRetries: 0 })
      const file = await sdk.files.create({
        file: await toFile(readFileSync(master), 'master.jsonl'),
        purpose: 'fine-tune',
      })
      let job = await sdk.fineTuning.jobs.create({ training_file: file.id, model: 'gpt-4.1-mini-2025-04-14' })
      while (!['succeeded', 'failed', 'cancelled'].includes(job.status)) {
        await new Promise((res) => setTimeout(res, 20))
        job = await sdk.fineTuning.jobs.retrieve(job.id)
      }
      expect(job.error?.message ?? null).toBeNull()
      expect(job.status).toBe('succeeded')
    })
  })
})
