import { execFile } from 'node:child_process'
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { describe, expect, it } from 'vitest'
import type { BenchRow } from './harness.js'
import {
  type BenchResults,
  compareResults,
  parseBenchArgs,
  passOf,
  Reporter,
  readResults,
  writeResults,
} from './report.js'

const row = (over: Partial<BenchRow> = {}): BenchRow => ({
  name: 'webhook req/s (signed, enqueued vs bare)',
  value: 8000,
  baseline: 10000,
  unit: 'req/s',
  better: 'higher',
  target: 'ratio ≥ 0.7',
  ...over,
})

/** What a trivial bench run reports, through the one reporter the runner uses. */
function trivialRun(rows: Array<[string, BenchRow]>, date = '2026-12-01T10:00:00.000Z'): BenchResults {
  const lines: string[] = []
  const reporter = new Reporter((l) => lines.push(l))
  for (const [bench, r] of rows) reporter.row(bench, r)
  return reporter.results({ date, filter: null, load: 1.5 })
}

describe('bench reporter', () => {
  describe('when a row has a target', () => {
    it.each([
      [{ target: 'ratio ≥ 0.7', value: 8000, baseline: 10000 }, true],
      [{ target: 'ratio ≥ 0.7', value: 6000, baseline: 10000 }, false],
      [{ target: 'value < 10 ms', value: 9.5, baseline: 1 }, true],
      [{ target: 'value < 10 ms', value: 10, baseline: 1 }, false],
      [{ target: '≥ 50000 msg/s', value: 152_000, baseline: 1 }, true],
      [{ target: 'value ≤ α = 5%', value: 6, baseline: 1 }, false],
      [{ target: '0', value: 0, baseline: 200 }, true],
      [{ target: '0 (maybe sent: 3)', value: 1, baseline: 200 }, false],
      [{ target: 'ratio ≥ 0.5 (linear)', value: 1, baseline: 1.5 }, true],
      [{ target: 'ratio ≥ 0.5', value: 0, baseline: 0 }, false],
      // Every clause of a conjunction must hold (the export row: rate and ratio).
      [{ target: '≥ 50000 msg/s and ratio ≥ 0.4', value: 58_000, baseline: 500_000 }, false],
      [{ target: '≥ 50000 msg/s and ratio ≥ 0.4', value: 250_000, baseline: 500_000 }, true],
      [{ target: '≥ 50000 msg/s and ratio ≥ 0.4', value: 40_000, baseline: 50_000 }, false],
    ])('checks %o → %s', (r, pass) => {
      expect(passOf(r)).toBe(pass)
    })

    it('is null without a target or with one it cannot read, and a row’s own pass wins', () => {
      expect(passOf({ value: 1, baseline: 1 })).toBeNull()
      expect(passOf({ value: 1, baseline: 1, target: 'as low as possible' })).toBeNull()
      expect(passOf({ value: 1, baseline: 1, target: 'as low as possible', pass: false })).toBe(false)
    })
  })

  describe('when --json is given', () => {
    it('writes every row with name, value, baseline, ratio, target and pass, and reads it back', () => {
      const file = join(mkdtempSync(join(tmpdir(), 'bench-')), 'nested', 'run.json')
      const results = trivialRun([
        ['webhook.bench.ts', row()],
        [
          'webhook.bench.ts',
          row({
            name: 'ack p99',
            value: 12,
            baseline: 1,
            unit: 'ms',
            better: 'lower',
            target: 'value < 10 ms',
          }),
        ],
        ['db.bench.ts', row({ name: 'no target', target: undefined })],
      ])
      writeResults(file, results)
      const json = JSON.parse(readFileSync(file, 'utf8'))
      expect(json.date).toBe('2026-12-01T10:00:00.000Z')
      expect(json.rows).toEqual([
        expect.objectContaining({
          bench: 'webhook.bench.ts',
          name: row().name,
          value: 8000,
          baseline: 10000,
          ratio: 0.8,
          target: 'ratio ≥ 0.7',
          pass: true,
        }),
        expect.objectContaining({ name: 'ack p99', ratio: 12, target: 'value < 10 ms', pass: false }),
        expect.objectContaining({ name: 'no target', target: null, pass: null }),
      ])
      expect(readResults(file)).toEqual(results)
    })
  })

  describe('when --compare is given', () => {
    it('prints each row’s change, better or worse by the row’s direction, and new or gone rows', () => {
      const before = trivialRun([
        ['webhook.bench.ts', row({ value: 4000 })],
        [
          'webhook.bench.ts',
          row({
            name: 'ack p99',
            value: 20,
            baseline: 1,
            unit: 'ms',
            better: 'lower',
            target: 'value < 10 ms',
          }),
        ],
        ['db.bench.ts', row({ name: 'dropped row' })],
      ])
      const after = trivialRun(
        [
          ['webhook.bench.ts', row({ value: 8000 })],
          [
            'webhook.bench.ts',
            row({
              name: 'ack p99',
              value: 25,
              baseline: 1,
              unit: 'ms',
              better: 'lower',
              target: 'value < 10 ms',
            }),
          ],
          ['export.bench.ts', row({ name: 'new row', value: 3, unit: 'MB' })],
        ],
        '2026-12-02T10:00:00.000Z',
      )
      const lines = compareResults(before, after)
      expect(lines[0]).toMatch(/compared with the run of 2026-12-01T10:00:00.000Z/)
      expect(lines.find((l) => l.startsWith('webhook req/s'))).toMatch(
        /4000 → 8000 req\/s \(\+100\.0%, better\)\s+ratio 0\.400 → 0\.800 \(\+100\.0%\)\s+pass false → true/,
      )
      expect(lines.find((l) => l.startsWith('ack p99'))).toMatch(/20\.0 → 25\.0 ms \(\+25\.0%, worse\)/)
      expect(lines.find((l) => l.startsWith('new row'))).toMatch(/new: 3\.000 MB/)
      expect(lines.find((l) => l.startsWith('dropped row'))).toMatch(/gone \(was 8000 req\/s\)/)
    })

    it('refuses a file that is not a results file, naming it', () => {
      const file = join(mkdtempSync(join(tmpdir(), 'bench-')), 'other.json')
      writeFileSync(file, '{"rows": "nope"}')
      expect(() => readResults(file)).toThrow(`--compare ${file}: not a bench results file`)
      expect(() => readResults(join(file, 'missing.json'))).toThrow(/cannot read bench results/)
    })
  })

  describe('when the command line is read', () => {
    const opts = { root: '/repo', now: new Date('2026-12-01T10:00:00.000Z') }
    it('takes a filter, --json with or without a file, and --compare <file>', () => {
      expect(parseBenchArgs(['webhook', '--json'], opts)).toEqual({
        filter: 'webhook',
        json: '/repo/bench-results/2026-12-01T10-00-00-000Z.json',
        compare: undefined,
      })
      expect(parseBenchArgs(['--json', '/tmp/a.json', '--compare', '/tmp/b.json', 'db'], opts)).toEqual({
        filter: 'db',
        json: '/tmp/a.json',
        compare: '/tmp/b.json',
      })
      expect(parseBenchArgs(['--json=/tmp/c.json'], opts).json).toBe('/tmp/c.json')
    })

    it('refuses an unknown option and a --compare without a file', () => {
      expect(() => parseBenchArgs(['--jsn'], opts)).toThrow('unknown option --jsn')
      expect(() => parseBenchArgs(['--compare'], opts)).toThrow('--compare needs a results file')
    })

    it('fails before running any bench when the --compare file is unreadable', async () => {
      const run = promisify(execFile)
      const err = await run(
        process.execPath,
        ['--import', 'tsx', join(import.meta.dirname, 'run.ts'), '--compare', '/nonexistent/bench.json'],
        { timeout: 20_000 },
      ).catch((e: { code: number; stdout: string; stderr: string }) => e)
      expect((err as { code: number }).code).not.toBe(0)
      expect((err as { stderr: string }).stderr).toMatch(/--compare \/nonexistent\/bench\.json: cannot read/)
      expect((err as { stdout: string }).stdout).not.toMatch(/^# .*\.bench\.ts/m)
    })
  })
})
