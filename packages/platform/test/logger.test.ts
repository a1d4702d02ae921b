import { mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { loadConfig } from '@loopdm/platform/config'
import { createLogger } from '@loopdm/platform/logger'
import { afterEach, describe, expect, it } from 'vitest'

/** pino-roll deletes old files and re-points current.log on its own thread: tolerate the race. */
const read = (f: string) => {
  try {
    return readFileSync(f, 'utf8')
  } catch {
    return ''
  }
}
const link = (f: string) => {
  try {
    return readlinkSync(f)
  } catch {
    return ''
  }
}

const until = async (check: () => boolean, timeoutMs = 10_000) => {
  const end = Date.now() + timeoutMs
  while (!check() && Date.now() < end) await new Promise((r) => setTimeout(r, 50))
  return check()
}

describe('createLogger', () => {
  let dir: string | undefined
  afterEach(() => {
    if (dir) rmSync(dir, { recursive: true, force: true })
    dir = undefined
  })

  describe('when LOG_FILE grows past LOG_ROTATE_SIZE', () => {
    it('rotates to numbered files, keeps LOG_ROTATE_KEEP of them, and still redacts secrets', async () => {
      dir = mkdtempSync(join(tmpdir(), 'loopdm-log-'))
      const config = loadConfig({
        LOG_FILE: join(dir, 'app.log'),
        LOG_ROTATE_SIZE: '1KB',
        LOG_ROTATE_FREQUENCY: 'off',
        LOG_ROTATE_KEEP: '3',
      })
      expect(config.log.rotate).toEqual({ sizeBytes: 1024, frequency: 'off', keep: 3 })
      const sink = { write: () => true } as unknown as NodeJS.WritableStream
      const sut = createLogger({ file: config.log.file, rotate: config.log.rotate, destination: sink })
      for (let i = 0; i < 120; i++) {
        sut.info(
          { i, apiKey: 'sk-live-secret', text: 'what the customer wrote' },
          `line ${i} ${'x'.repeat(60)}`,
        )
        // pino-roll checks the size after each write it receives: give the worker a turn now and then.
        if (i % 10 === 9) await new Promise((r) => setTimeout(r, 20))
      }
      const logs = () => readdirSync(dir as string).filter((f) => /^app\.\d+\.log$/.test(f))
      const last = () => logs().some((f) => read(join(dir as string, f)).includes('"i":119'))
      const current = () => /app\.\d+\.log$/.test(link(join(dir as string, 'current.log')))
      // Old files are deleted just after a rotation: wait for that too.
      expect(await until(() => last() && current() && logs().length <= 4)).toBe(true)
      expect(logs().length).toBeGreaterThanOrEqual(2)
      for (const f of logs()) {
        const text = read(join(dir, f))
        expect(text).not.toContain('sk-live-secret')
        expect(text).not.toContain('what the customer wrote')
        // The file opened by the last rotation may still be empty.
        if (text) expect(text).toContain('[redacted]')
      }
    }, 30_000)
  })

  describe('when rotation is off', () => {
    it('appends to LOG_FILE itself (for an external logrotate)', async () => {
      dir = mkdtempSync(join(tmpdir(), 'loopdm-log-'))
      const file = join(dir, 'app.log')
      const config = loadConfig({ LOG_FILE: file, LOG_ROTATE_SIZE: 'off', LOG_ROTATE_FREQUENCY: 'off' })
      const sink = { write: () => true } as unknown as NodeJS.WritableStream
      const sut = createLogger({ file: config.log.file, rotate: config.log.rotate, destination: sink })
      sut.info({ token: 'abc' }, 'plain')
      sut.flush()
      expect(await until(() => readdirSync(dir as string).includes('app.log'))).toBe(true)
      expect(await until(() => readFileSync(file, 'utf8').includes('plain'))).toBe(true)
      expect(readFileSync(file, 'utf8')).not.toContain('abc')
    })
  })
})
