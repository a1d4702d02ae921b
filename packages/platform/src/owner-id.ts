import { randomBytes } from 'node:crypto'
import { hostname } from 'node:os'

/**
 * Owner ids of locks and leases: `host:pid:bootId`. The boot id is random per process start, so a
 * container restarted with the same PID 1 on the same hostname does not take its own dead lock
 * for a live one (issue 17: the night's export failed three times behind its own ghost).
 */
const BOOT_ID = randomBytes(6).toString('hex')

/** This process's owner id. */
export function processOwnerId(): string {
  return `${hostname()}:${process.pid}:${BOOT_ID}`
}

export interface ParsedOwner {
  host: string
  pid: number
  /** Absent in ids written before boot ids existed (`host:pid`). */
  bootId: string | undefined
}

export function parseOwnerId(owner: string): ParsedOwner | null {
  const [host, pidText, bootId] = owner.split(':')
  const pid = Number(pidText)
  if (!host || !Number.isInteger(pid) || pid <= 0) return null
  return { host, pid, bootId: bootId || undefined }
}

/**
 * Whether the owner of a lock is known to be gone, from what this process can see:
 * - `self`: this very process (the caller decides whether it still uses the lock);
 * - `dead`: same host and the pid is not running, or the pid is ours but the boot id is another
 *   (a restarted container reusing the pid: the old process is gone for certain);
 * - `alive`: same host, another pid that is running (a legacy id with our pid counts here: it
 *   cannot be told apart, so the lease's time limit decides);
 * - `unknown`: another host, or an id that is not `host:pid[:bootId]`.
 */
export function ownerLiveness(owner: string): 'self' | 'dead' | 'alive' | 'unknown' {
  const o = parseOwnerId(owner)
  if (!o || o.host !== hostname()) return 'unknown'
  if (o.pid === process.pid) {
    if (o.bootId === BOOT_ID) return 'self'
    return o.bootId === undefined ? 'alive' : 'dead'
  }
  try {
    process.kill(o.pid, 0)
    return 'alive'
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH' ? 'dead' : 'alive'
  }
}
