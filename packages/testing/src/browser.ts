import { existsSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type BrowserContext, chromium } from 'playwright-core'

/** Debian's Chromium (`apt-get install -y chromium`); CHROMIUM_PATH overrides. */
export const CHROMIUM_PATH = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium'

/**
 * Whether the browser suite can run. Locally a missing Chromium skips it with a loud message; in
 * CI (`CI` set) it is an error, so the suite cannot silently stop testing the console.
 */
export function chromiumAvailable(): boolean {
  if (existsSync(CHROMIUM_PATH)) return true
  const msg = `Chromium not found at ${CHROMIUM_PATH}: the console browser tests need it (apt-get update && apt-get install -y chromium)`
  if (process.env.CI) throw new Error(`${msg} — refusing to skip in CI`)
  console.warn(`\n${'!'.repeat(100)}\n!! SKIPPING the console browser tests. ${msg}\n${'!'.repeat(100)}\n`)
  return false
}

/** Flags for this machine: no sandbox (containers), no GPU, no background network traffic. */
const FLAGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
]

/** A headless Chromium with a fresh profile (`--user-data-dir`, removed on close). */
export async function launchBrowser(): Promise<{ context: BrowserContext; close(): Promise<void> }> {
  const userDataDir = await mkdtemp(join(tmpdir(), 'loopdm-console-chromium-'))
  const context = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM_PATH,
    headless: true,
    args: FLAGS,
    viewport: { width: 1280, height: 900 },
  })
  return {
    context,
    async close() {
      await context.close().catch(() => {})
      await rm(userDataDir, { recursive: true, force: true })
    },
  }
}
