import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { testConfig } from '@loopdm/shared/testing'
import { describe, expect, it } from 'vitest'
import { pickTrainingData } from '../src/services/training-data.service.js'
import { tmpExportDir } from './helpers.js'

const line = (s: string) =>
  `${JSON.stringify({
    messages: [
      { role: 'user', content: s },
      { role: 'assistant', content: `re ${s}` },
    ],
  })}\n`

function exportsFixture(): string {
  const dir = tmpExportDir()
  writeFileSync(join(dir, 'fine_tune_2026-01-01.jsonl'), line('a'))
  writeFileSync(join(dir, 'fine_tune_2026-01-02.jsonl'), line('b'))
  writeFileSync(join(dir, 'fine_tune_2026-01-03.jsonl'), line('c') + line('d'))
  writeFileSync(join(dir, 'master_fine_tune.jsonl'), line('a') + line('b') + line('c') + line('d'))
  return dir
}

describe('pickTrainingData', () => {
  describe('when FT_TRAINING_DATA=master (default)', () => {
    it('takes the master file, through the latest daily export', async () => {
      const dir = exportsFixture()
      const sut = await pickTrainingData({
        config: testConfig({ EXPORT_DIR: dir }),
        lastDataThrough: '2026-01-01',
      })
      expect(sut).toEqual({
        path: join(dir, 'master_fine_tune.jsonl'),
        source: 'master',
        dataThrough: '2026-01-03',
      })
    })
  })

  describe('when FT_TRAINING_DATA=since-last', () => {
    it('concatenates the daily exports newer than the last tuned data, deterministically', async () => {
      const dir = exportsFixture()
      const config = testConfig({ EXPORT_DIR: dir, FT_TRAINING_DATA: 'since-last' })
      const sut = await pickTrainingData({ config, lastDataThrough: '2026-01-01' })
      expect(sut.source).toBe('since-last')
      expect(sut.dataThrough).toBe('2026-01-03')
      expect(readFileSync(sut.path, 'utf8')).toBe(line('b') + line('c') + line('d'))
      const again = await pickTrainingData({ config, lastDataThrough: '2026-01-01' })
      expect(again.path).toBe(sut.path)
    })

    it('uses the master file when nothing was tuned yet, and refuses when nothing is new', async () => {
      const dir = exportsFixture()
      const config = testConfig({ EXPORT_DIR: dir, FT_TRAINING_DATA: 'since-last' })
      expect((await pickTrainingData({ config, lastDataThrough: null })).source).toBe('master')
      await expect(pickTrainingData({ config, lastDataThrough: '2026-01-03' })).rejects.toThrow(
        /no daily export newer than 2026-01-03/,
      )
    })
  })

  describe('when a file is named', () => {
    it('takes it, and refuses a missing one clearly', async () => {
      const dir = exportsFixture()
      const config = testConfig({ EXPORT_DIR: dir })
      const f = join(dir, 'fine_tune_2026-01-02.jsonl')
      expect(await pickTrainingData({ config, file: f })).toMatchObject({ path: f, source: 'file' })
      await expect(pickTrainingData({ config, file: join(dir, 'nope.jsonl') })).rejects.toThrow(
        /does not exist/,
      )
    })
  })
})
