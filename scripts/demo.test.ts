import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { runScript } from './lib/stack-proc.js'

/** `npm run demo` end to end, as CI runs it: fresh database and export dir, exit 0, the summary. */
describe('npm run demo', () => {
  it('runs the whole loop with the default exemplar learner and names it, the policy, the scores and the cost', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'loopdm-demo-'))
    try {
      const { code, output: out } = await runScript('demo', [], {
        PATH: process.env.PATH ?? '',
        HOME: process.env.HOME ?? '',
        REDIS_URL: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
        PGLITE_DATA_DIR: join(dir, 'pg'),
        EXPORT_DIR: join(dir, 'exports'),
      })
      if (code !== 0) process.stdout.write(out)
      expect(code).toBe(0)
      expect(out).toContain('200 DMs accepted (0 failed)')
      expect(out).toMatch(/exemplar set \d+: [1-9]\d* demonstrations/)
      expect(out).toMatch(/decision: approved_pending/)
      expect(out).toMatch(/"reason":"active".*"policy":\d+,"policyVersion":\d+,"learner":"exemplars"/)
      expect(out).toMatch(/learner\s+exemplars: [1-9]\d* exemplars/)
      expect(out).toMatch(/promoted policy\s+exemplars:[0-9a-f]{12} \(id \d+, learner exemplars/)
      const gold = /gold score\s+before (\d\.\d+) .*→ after (\d\.\d+)/.exec(out)
      expect(Number(gold?.[2])).toBeGreaterThan(Number(gold?.[1]))
      expect(out).toMatch(/cost per reply\s+\$\d+\.\d+ .*demonstrations add [1-9]\d* prompt tokens/)
      // Curated data: the sources are shown, the generic bot line is not learned, no line twice.
      expect(out).toMatch(
        /examples exported\s+[1-9]\d* \(\d+ bytes\): human \d+, import [1-9]\d*, bot \d+; excluded .*generic [1-9]\d*/,
      )
      expect(out).toMatch(/included:\s+[1-9]\d* — human \d+, import [1-9]\d*, bot \d+/)
      const master = readFileSync(join(dir, 'exports', 'master_fine_tune.jsonl'), 'utf8')
        .trim()
        .split('\n')
      expect(master.length).toBeGreaterThan(100)
      expect(new Set(master).size).toBe(master.length)
      expect(master.some((l) => l.includes('A team member will get back to you soon'))).toBe(false)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  }, 240_000)

  it('runs the fine-tuning path with --learner fine-tune and names the promoted ft: model', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'loopdm-demo-'))
    try {
      const { code, output: out } = await runScript('demo', ['--learner', 'fine-tune'], {
        PATH: process.env.PATH ?? '',
        HOME: process.env.HOME ?? '',
        REDIS_URL: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
        PGLITE_DATA_DIR: join(dir, 'pg'),
        EXPORT_DIR: join(dir, 'exports'),
      })
      if (code !== 0) process.stdout.write(out)
      expect(code).toBe(0)
      expect(out).toContain('200 DMs accepted (0 failed)')
      expect(out).toMatch(/decision: approved_pending/)
      expect(out).toMatch(/→ ft:\S+ \(Selected Model, reason active\)/)
      expect(out).toMatch(/promoted policy\s+ft:\S+ \(id \d+, learner fine-tune/)
      expect(out).toMatch(/learner\s+fine-tune: \d+ training tokens/)
      expect(out).toMatch(/PII replaced\s+[1-9]\d*/)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  }, 240_000)

  it.each([
    [
      'together',
      /promoted policy\s+loopdm\/Meta-Llama-3\.1-8B-Instruct-Reference-loopdm-[0-9a-f]{8}-[0-9a-f]{8} \(id \d+, learner fine-tune/,
    ],
    ['vllm', /promoted policy\s+loopdm-[0-9a-f]{8}-[0-9a-f]{6} \(id \d+, learner fine-tune/],
  ])(
    '--learner fine-tune --provider %s trains there and promotes its policy',
    async (provider, promoted) => {
      const dir = mkdtempSync(join(tmpdir(), `loopdm-demo-${provider}-`))
      try {
        const { code, output: out } = await runScript(
          'demo',
          ['--learner', 'fine-tune', '--provider', provider],
          {
            PATH: process.env.PATH ?? '',
            HOME: process.env.HOME ?? '',
            REDIS_URL: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
            PGLITE_DATA_DIR: join(dir, 'pg'),
            EXPORT_DIR: join(dir, 'exports'),
          },
        )
        if (code !== 0) process.stdout.write(out)
        expect(code).toBe(0)
        expect(out).toContain(`FT_PROVIDER=${provider}`)
        expect(out).toMatch(/decision: approved_pending/)
        expect(out).toMatch(/\(Selected Model, reason active\)/)
        expect(out).toMatch(promoted)
        expect(out).toMatch(new RegExp(`fine-tune provider\\s+${provider}`))
      } finally {
        rmSync(dir, { recursive: true, force: true })
      }
    },
    240_000,
  )
})
