import { promises as fsp } from 'node:fs'
import { join } from 'node:path'
import { ownerLiveness, processOwnerId } from '@loopdm/platform/owner-id'
import { LOCK_FILE } from './export-layout.js'

/**
 * An exclusive lock on the export directory's files (`<dir>/.export.lock`, created with O_EXCL,
 * holding host:pid:bootId). The exporter's file phase, the GDPR erase and retention take it so a rewrite
 * never races an append. A lock whose process is gone (same host) or older than `staleMs` is broken.
 */
export async function acquireDirLock(
  dir: string,
  opts: { timeoutMs?: number; staleMs?: number; what?: string } = {},
): Promise<() => Promise<void>> {
  await fsp.mkdir(dir, { recursive: true })
  const path = join(dir, LOCK_FILE)
  const me = processOwnerId()
  const until = Date.now() + (opts.timeoutMs ?? 120_000)
  for (;;) {
    try {
      const fh = await fsp.open(path, 'wx')
      await fh.writeFile(me)
      await fh.close()
      return async () => {
        const owner = await fsp.readFile(path, 'utf8').catch(() => '')
        if (owner === me) await fsp.rm(path, { force: true })
      }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
    }
    const owner = await fsp.readFile(path, 'utf8').catch(() => '')
    const st = await fsp.stat(path).catch(() => undefined)
    let stale = !st || Date.now() - st.mtimeMs > (opts.staleMs ?? 10 * 60_000)
    // host:pid:bootId: a dead pid on this host, or our pid from another boot (a restarted container).
    if (!stale && owner !== '') stale = ownerLiveness(owner) === 'dead'
    // A lock file that is still empty is being written by its new owner: give it a moment.
    if (owner === '' && st && Date.now() - st.mtimeMs < 2000) stale = false
    if (stale) {
      await fsp.rm(path, { force: true })
      continue
    }
    if (Date.now() > until) {
      throw new Error(`${opts.what ?? 'export files'}: ${path} is held by ${owner || 'another process'}`)
    }
    await new Promise((r) => setTimeout(r, 100))
  }
}

/** Refreshes the lock's mtime so a long run is not taken for a stale lock by another host. */
export async function touchDirLock(dir: string): Promise<void> {
  const now = new Date()
  await fsp.utimes(join(dir, LOCK_FILE), now, now).catch(() => {})
}
