/**
 * `npm run check:size [-- root]`: modules over about 300 lines (310) and functions over 80 lines in
 * apps/<app>/src and packages/<pkg>/src (the style guide's size rule), longest first; exits 1 when
 * anything is over. A function's length is its own lines: the lines of functions nested in it
 * (a repository factory's methods, a route plugin's handlers) count for those functions, not for it.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join, relative, resolve } from 'node:path'
import ts from 'typescript'

// The style guide says "under about 300": a few lines over is within "about".
const MODULE_MAX = 310
const FUNCTION_MAX = 80

function files(dir: string): string[] {
  const out: string[] = []
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules' || name.startsWith('.')) continue
    const p = join(dir, name)
    if (statSync(p).isDirectory()) out.push(...files(p))
    else if (name.endsWith('.ts') && !name.endsWith('.test.ts')) out.push(p)
  }
  return out
}

export function oversized(root: string): string[] {
  const found: Array<[number, string]> = []
  for (const top of ['apps', 'packages']) {
    for (const pkg of readdirSync(join(root, top))) {
      const src = join(root, top, pkg, 'src')
      try {
        statSync(src)
      } catch {
        continue
      }
      for (const file of files(src)) {
        const text = readFileSync(file, 'utf8')
        const rel = relative(root, file)
        const lines = text.split('\n').length
        if (lines > MODULE_MAX) found.push([lines, `${rel}: module ${lines} lines`])
        const sf = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true)
        const span = (node: ts.Node) =>
          sf.getLineAndCharacterOfPosition(node.getEnd()).line -
          sf.getLineAndCharacterOfPosition(node.getStart()).line +
          1
        const isFn = (node: ts.Node) => ts.isFunctionLike(node) && 'body' in node && node.body !== undefined
        /** Lines of the functions nested directly in `node` (not counting deeper ones twice). */
        const nested = (node: ts.Node): number => {
          let n = 0
          ts.forEachChild(node, (c) => {
            n += isFn(c) ? span(c) : nested(c)
          })
          return n
        }
        const visit = (node: ts.Node) => {
          if (isFn(node)) {
            const own = span(node) - nested((node as ts.FunctionLikeDeclaration).body as ts.Node)
            const line = sf.getLineAndCharacterOfPosition(node.getStart()).line + 1
            const name = (node as ts.FunctionDeclaration).name?.getText() ?? '(anonymous)'
            if (own > FUNCTION_MAX) found.push([own, `${rel}:${line}: function ${name} ${own} own lines`])
          }
          ts.forEachChild(node, visit)
        }
        visit(sf)
      }
    }
  }
  return found.sort((a, b) => b[0] - a[0]).map(([, s]) => s)
}

const root = resolve(
  process.argv.find((a, i) => i > 1 && !a.startsWith('--')) ?? join(import.meta.dirname, '..'),
)
const over = oversized(root)
for (const line of over) process.stdout.write(`${line}\n`)
process.stdout.write(
  `check:size: ${over.length} over (modules > ${MODULE_MAX}, functions > ${FUNCTION_MAX} own lines)\n`,
)
if (over.length > 0) process.exit(1)
