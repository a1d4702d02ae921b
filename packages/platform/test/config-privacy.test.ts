import { mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { loadConfig } from '../src/config.js'
import { ensurePseudonymSecretFile, withPseudonymSecretFile } from '../src/config-privacy.js'

describe('privacy config', () => {
  it('has the documented defaults', () => {
    const c = loadConfig({})
    expect(c.privacy.pseudonymSecret).toBeUndefined()
    expect(c.metrics).toEqual({ port: 0, host: '127.0.0.1' })
    expect(c.webhook.bodyLimitBytes).toBe(8 * 1024 * 1024)
    expect(c.finetune.deleteTrainingFiles).toBe(true)
  })

  it('names each bad variable', () => {
    expect(() =>
      loadConfig({
        PSEUDONYM_SECRET: 'short',
        WEBHOOK_BODY_LIMIT: 'big',
        METRICS_PORT: '70000',
        FT_DELETE_TRAINING_FILES: 'maybe',
      }),
    ).toThrow(
      /PSEUDONYM_SECRET: .*\n.*WEBHOOK_BODY_LIMIT: .*\n.*METRICS_PORT: .*\n.*FT_DELETE_TRAINING_FILES: /s,
    )
  })

  describe('when npm start generates the pseudonym secret', () => {
    it('creates .data/pseudonym.secret once (0600) and every process reads the same one', () => {
      const file = join(mkdtempSync(join(tmpdir(), 'loopdm-secret-')), '.data', 'pseudonym.secret')
      const first = ensurePseudonymSecretFile(file)
      expect(first.created).toBe(true)
      expect(first.secret.length).toBeGreaterThanOrEqual(32)
      expect(statSync(file).mode & 0o777).toBe(0o600)
      expect(ensurePseudonymSecretFile(file)).toEqual({ secret: first.secret, created: false })
      expect(withPseudonymSecretFile({}, file).PSEUDONYM_SECRET).toBe(first.secret)
      expect(loadConfig(withPseudonymSecretFile({}, file)).privacy.pseudonymSecret).toBe(first.secret)
      // An explicit PSEUDONYM_SECRET wins over the file.
      expect(
        withPseudonymSecretFile({ PSEUDONYM_SECRET: 'explicit-secret-123456' }, file).PSEUDONYM_SECRET,
      ).toBe('explicit-secret-123456')
      expect(readFileSync(file, 'utf8').trim()).toBe(first.secret)
    })

    it('leaves the env alone when there is no file', () => {
      const env = { PORT: '1' }
      expect(withPseudonymSecretFile(env, '/nonexistent/pseudonym.secret')).toBe(env)
    })

    it('replaces a truncated file', () => {
      const file = join(mkdtempSync(join(tmpdir(), 'loopdm-secret-')), 'pseudonym.secret')
      writeFileSync(file, 'abc\n')
      expect(ensurePseudonymSecretFile(file).created).toBe(true)
    })
  })
})
