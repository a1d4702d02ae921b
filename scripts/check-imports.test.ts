import { spawnSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { checkImports } from './check-imports.js'

const ROOT = resolve(import.meta.dirname, '..')

describe('check:imports', () => {
  const dirs: string[] = []
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true })
  })

  /** A tree of files (path → text) under a fresh temp root. */
  function tree(files: Record<string, string>): string {
    const root = mkdtempSync(join(tmpdir(), 'loopdm-imports-'))
    dirs.push(root)
    for (const [path, text] of Object.entries(files)) {
      mkdirSync(dirname(join(root, path)), { recursive: true })
      writeFileSync(join(root, path), text)
    }
    return root
  }

  const run = (root: string) =>
    spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'scripts/check-imports.ts'), root], {
      cwd: ROOT,
      encoding: 'utf8',
    })

  describe('when run on this repository', () => {
    it('finds no import across an app boundary', () => {
      expect(checkImports(ROOT)).toEqual([])
    })
  })

  describe('when an app imports another app', () => {
    it('fails naming each file and line, by package name or relative path', () => {
      const sut = tree({
        'apps/alpha/src/main.ts': "import { x } from './x.js'\nimport { y } from '@loopdm/beta/services/y'\n",
        'apps/alpha/src/x.ts': "export const x = 1\nexport { z } from '../../beta/src/z.js'\n",
        'apps/beta/src/y.ts': "import { p } from '@loopdm/platform/config'\nexport const y = p\n",
        'apps/beta/test/y.test.ts': "import { startOpenAILocal } from '@loopdm/openai-local/server'\n",
        'apps/openai-local/src/server.ts': 'export const startOpenAILocal = 1\n',
        'packages/platform/src/config.ts':
          "export const p = 1\nimport type { A } from '@loopdm/alpha/main'\n",
      })
      const r = run(sut)
      expect(r.status).toBe(1)
      expect(r.stderr).toContain('apps/alpha/src/main.ts:2: @loopdm/beta/services/y')
      expect(r.stderr).toContain('apps/alpha/src/x.ts:2: ../../beta/src/z.js')
      expect(r.stderr).toContain('packages/platform/src/config.ts:2: @loopdm/alpha/main')
      expect(r.stderr).toContain('apps/beta/test/y.test.ts:1: @loopdm/openai-local/server')
      expect(r.stderr).toContain('4 import(s) cross an app boundary')
    })
  })

  describe('when only the test kit re-exports the offline provider', () => {
    it('passes', () => {
      const sut = tree({
        'packages/testing/src/openai-local.ts': "export { s } from '@loopdm/openai-local/server'\n",
        'apps/alpha/test/a.test.ts':
          "import { s } from '@loopdm/testing/openai-local'\nimport '../src/a.js'\n",
        'apps/alpha/src/a.ts': "import { p } from '@loopdm/platform/config'\n",
        'apps/openai-local/src/server.ts': 'export const s = 1\n',
      })
      const r = run(sut)
      expect(r.stderr).toBe('')
      expect(r.status).toBe(0)
    })
  })

  describe('when the test kit imports more of an app than the provider', () => {
    it('fails', () => {
      const sut = tree({
        'packages/testing/src/x.ts': "export { s } from '@loopdm/openai-local/app'\n",
        'apps/openai-local/src/app.ts': 'export const s = 1\n',
      })
      expect(checkImports(sut)).toEqual([
        expect.objectContaining({ file: 'packages/testing/src/x.ts', specifier: '@loopdm/openai-local/app' }),
      ])
    })
  })

  describe('when an app test imports another app directly', () => {
    it('fails', () => {
      const sut = tree({
        'apps/alpha/test/a.test.ts': "import { s } from '@loopdm/openai-local/app'\n",
        'apps/openai-local/src/app.ts': 'export const s = 1\n',
      })
      expect(checkImports(sut)).toEqual([
        expect.objectContaining({
          file: 'apps/alpha/test/a.test.ts',
          line: 1,
          specifier: '@loopdm/openai-local/app',
        }),
      ])
    })
  })
})
