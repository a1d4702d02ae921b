import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { testConfig } from '@loopdm/testing/fixtures'
import { describe, expect, it } from 'vitest'
import { manifestPath } from '../src/export-layout.js'
import { pseudonymousUserKey } from '../src/pseudonym.js'
import { pickTrainingData } from '../src/training-file.js'

const line = (s: string) =>
  `${JSON.stringify({
    messages: [
      { role: 'user', content: s },
      { role: 'assistant', content: `re ${s}` },
    ],
  })}\n`

/** A daily export as the exporter writes it: data plus its manifest (user key per line). */
function daily(dir: string, date: string, users: string[]) {
  const file = join(dir, `fine_tune_${date}.jsonl`)
  writeFileSync(file, users.map(line).join(''))
  writeFileSync(
    manifestPath(file),
    users.map((u) => `${pseudonymousUserKey(u, undefined)}\t${date}\n`).join(''),
  )
}

function exportsFixture(): string {
  const dir = mkdtempSync(join(tmpdir(), 'loopdm-training-file-'))
  daily(dir, '2026-01-01', ['a'])
  daily(dir, '2026-01-02', ['b'])
  daily(dir, '2026-01-03', ['c', 'd'])
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
      // Its manifest is the dailies' manifests in the same order, so a GDPR erase finds the lines.
      expect(readFileSync(manifestPath(sut.path), 'utf8')).toBe(
        ['b\t2026-01-02', 'c\t2026-01-03', 'd\t2026-01-03']
          .map((l) => `${pseudonymousUserKey(l.split('\t')[0] as string, undefined)}\t${l.split('\t')[1]}\n`)
          .join(''),
      )
      const again = await pickTrainingData({ config, lastDataThrough: '2026-01-01' })
      expect(again.path).toBe(sut.path)
    })

    it('refuses dailies without a manifest, naming them', async () => {
      const dir = exportsFixture()
      rmSync(manifestPath(join(dir, 'fine_tune_2026-01-02.jsonl')))
      const config = testConfig({ EXPORT_DIR: dir, FT_TRAINING_DATA: 'since-last' })
      await expect(pickTrainingData({ config, lastDataThrough: '2026-01-01' })).rejects.toThrow(
        /daily exports fine_tune_2026-01-02\.jsonl have no manifest/,
      )
      expect(existsSync(join(dir, 'tune'))).toBe(true)
      expect(readdirSync(join(dir, 'tune'))).toEqual([])
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
