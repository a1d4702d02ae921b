import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { runScript } from './lib/stack-proc.js'

/** `npm run demo` end to end, as CI runs it: fresh database and export dir, exit 0, the summary. */
describe('npm run demo', () => {
  it('runs the whole loop and exits 0 with the summary naming the promoted ft: model', async () => {
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
      expect(out).toMatch(/decision: approved_pending/)
      expect(out).toMatch(/→ ft:\S+ \(Selected Model, reason active\)/)
      expect(out).toMatch(/promoted model\s+ft:\S+/)
      expect(out).toMatch(/PII replaced\s+[1-9]\d*/)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  }, 180_000)

  it.each([
    [
      'together',
      /promoted model\s+loopdm\/Meta-Llama-3\.1-8B-Instruct-Reference-loopdm-[0-9a-f]{8}-[0-9a-f]{8} /,
    ],
    ['vllm', /promoted model\s+loopdm-[0-9a-f]{8}-[0-9a-f]{6} /],
  ])(
    '--learner fine-tune --provider %s trains there and promotes its model',
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
    180_000,
  )
})
