/**
 * `npm run check:imports [-- <root>]`: the import boundaries, checked in `npm test`.
 * - apps/<app>/src and apps/<app>/test import no other app (`@loopdm/<other app>/…` or a relative
 *   path into apps/<other app>);
 * - packages/<pkg>/src import no app at all. The one exception is the dev-only test kit:
 *   packages/testing re-exports the offline provider tests start (`@loopdm/openai-local/server`),
 *   so app tests reach it through `@loopdm/testing/openai-local`.
 * Tests that span apps live in test/e2e. Exits 1 listing every `file:line` that crosses.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { dirname, join, relative, resolve, sep } from 'node:path'
import { pathToFileURL } from 'node:url'

export interface ImportViolation {
  /** Relative to the root, with '/' separators. */
  file: string
  line: number
  specifier: string
  reason: string
}

/** What the dev-only test kit (packages/testing) may import from an app: the offline provider. */
const TESTING_ALLOWED = new Set(['@loopdm/openai-local/server'])
const SPECIFIER = /(?:\bfrom\s*|\bimport\s*\(\s*|^\s*import\s+|\bexport\s+\*\s+from\s*)['"]([^'"]+)['"]/g
const SOURCE = /\.(?:ts|tsx|mts|cts|js|mjs)$/

function sourceFiles(dir: string): string[] {
  if (!existsSync(dir)) return []
  const out: string[] = []
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules' || name.startsWith('.')) continue
    const p = join(dir, name)
    if (statSync(p).isDirectory()) out.push(...sourceFiles(p))
    else if (SOURCE.test(name)) out.push(p)
  }
  return out
}

const subdirs = (dir: string) =>
  existsSync(dir) ? readdirSync(dir).filter((n) => statSync(join(dir, n)).isDirectory()) : []

/** The app a specifier reaches, if any: `@loopdm/<app>…` or a relative path into `apps/<app>`. */
function appOf(specifier: string, fromFile: string, root: string, apps: Set<string>): string | null {
  const scoped = /^@loopdm\/([^/]+)/.exec(specifier)
  if (scoped) return apps.has(scoped[1] as string) ? (scoped[1] as string) : null
  if (!specifier.startsWith('.')) return null
  const parts = relative(root, resolve(dirname(fromFile), specifier)).split(sep)
  return parts[0] === 'apps' && parts[1] && apps.has(parts[1]) ? parts[1] : null
}

function scanFile(
  file: string,
  check: (specifier: string, target: string | null) => string | null,
  root: string,
  apps: Set<string>,
): ImportViolation[] {
  const out: ImportViolation[] = []
  const lines = readFileSync(file, 'utf8').split('\n')
  for (const [i, text] of lines.entries()) {
    for (const m of text.matchAll(SPECIFIER)) {
      const specifier = m[1] as string
      const reason = check(specifier, appOf(specifier, file, root, apps))
      if (reason)
        out.push({ file: relative(root, file).split(sep).join('/'), line: i + 1, specifier, reason })
    }
  }
  return out
}

/** Every import under `root` that crosses a boundary, sorted by file and line. */
export function checkImports(root: string): ImportViolation[] {
  const apps = new Set(subdirs(join(root, 'apps')))
  const out: ImportViolation[] = []
  for (const app of apps) {
    for (const part of ['src', 'test'] as const) {
      for (const file of sourceFiles(join(root, 'apps', app, part))) {
        const check = (_specifier: string, target: string | null) => {
          if (target === null || target === app) return null
          return `apps/${app}/${part} imports the ${target} app (move shared code to packages/, cross-app tests to test/e2e)`
        }
        out.push(...scanFile(file, check, root, apps))
      }
    }
  }
  for (const pkg of subdirs(join(root, 'packages'))) {
    for (const file of sourceFiles(join(root, 'packages', pkg, 'src'))) {
      const check = (specifier: string, target: string | null) =>
        target === null || (pkg === 'testing' && TESTING_ALLOWED.has(specifier))
          ? null
          : `packages/${pkg}/src imports the ${target} app (packages never import apps)`
      out.push(...scanFile(file, check, root, apps))
    }
  }
  return out.sort((a, b) => a.file.localeCompare(b.file) || a.line - b.line)
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  const root = resolve(process.argv[2] ?? join(import.meta.dirname, '..'))
  const violations = checkImports(root)
  for (const v of violations) process.stderr.write(`${v.file}:${v.line}: ${v.specifier} — ${v.reason}\n`)
  if (violations.length > 0) {
    process.stderr.write(`check:imports: ${violations.length} import(s) cross an app boundary\n`)
    process.exit(1)
  }
  process.stdout.write('check:imports: no app imports another app; no package imports an app\n')
}
