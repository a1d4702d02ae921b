import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { ROOT } from './lib/cli.js'

/** `npm run demo` end to end, as CI runs it: fresh database and export dir, exit 0, the summary. */
describe('npm run demo', () => {
  it('runs the whole loop and exits 0 with the summary naming the promoted ft: model', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'loopdm-demo-'))
    try {
      const { code, out } = await new Promise<{ code: number | null; out: string }>((res) => {
        const child = spawn(process.execPath, ['--import', 'tsx', 'scripts/demo.ts'], {
          cwd: ROOT,
          env: {
            PATH: process.env.PATH ?? '',
            HOME: process.env.HOME ?? '',
            REDIS_URL: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
            PGLITE_DATA_DIR: join(dir, 'pg'),
            EXPORT_DIR: join(dir, 'exports'),
          },
          stdio: ['ignore', 'pipe', 'pipe'],
        })
        let out = ''
        child.stdout.on('data', (d: Buffer) => {
          out += d.toString()
        })
        child.stderr.on('data', (d: Buffer) => {
          out += d.toString()
        })
        child.on('exit', (c) => res({ code: c, out }))
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
})
