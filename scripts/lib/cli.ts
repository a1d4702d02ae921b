import { dirname, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Config } from '@loopdm/platform/config'
import { createLogger, type Logger } from '@loopdm/platform/logger'

/** The repository root. */
export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..')

export function say(line: string): void {
  process.stdout.write(`${line}\n`)
}

/** Polls `check` every 250 ms until it is true or `timeoutMs` passes. */
export async function waitFor(
  check: () => Promise<boolean>,
  timeoutMs: number,
  everyMs = 250,
): Promise<boolean> {
  const until = Date.now() + timeoutMs
  while (Date.now() < until) {
    if (await check()) return true
    await new Promise((r) => setTimeout(r, everyMs))
  }
  return false
}

/** Minimal flag parser: `--name value`, `--name=value`, `--flag`; the rest are positionals. */
export function parseArgs(argv: string[]): { flags: Record<string, string | true>; positionals: string[] } {
  const flags: Record<string, string | true> = {}
  const positionals: string[] = []
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i] as string
    if (!a.startsWith('--')) {
      positionals.push(a)
      continue
    }
    const eq = a.indexOf('=')
    if (eq > 0) flags[a.slice(2, eq)] = a.slice(eq + 1)
    else if (argv[i + 1] !== undefined && !(argv[i + 1] as string).startsWith('--'))
      flags[a.slice(2)] = argv[++i] as string
    else flags[a.slice(2)] = true
  }
  return { flags, positionals }
}

/**
 * A command's logger: at the default `info` level it logs warnings only, so the command's own
 * output stays readable; an explicit LOG_LEVEL (debug, …) is honoured.
 */
export function cliLogger(config: Config, name: string): Logger {
  return createLogger({ level: config.log.level === 'info' ? 'warn' : config.log.level, name })
}
