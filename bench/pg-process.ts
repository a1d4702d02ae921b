/**
 * The embedded Postgres in a child process, as `npm start` runs it (the supervisor owns it, the
 * apps connect over the wire), so a bench's own work is not on the database's thread. The child is
 * bench/embedded-pg-child.ts; it stops when its stdin closes.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'

export interface PgProcess {
  url: string
  child: ChildProcess
  close(): Promise<void>
}

/**
 * `onDisk`: the data lives in a temporary directory (removed on close), as `npm start` keeps it in
 * `.data/pg`; pages that do not fit shared_buffers are then read from files, not from memory.
 */
export async function startPgProcess(opts: { onDisk?: boolean } = {}): Promise<PgProcess> {
  const dataDir = opts.onDisk ? mkdtempSync(join(tmpdir(), 'bench-pg-')) : undefined
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', new URL('./embedded-pg-child.ts', import.meta.url).pathname],
    {
      stdio: ['pipe', 'pipe', 'inherit'],
      env: { ...process.env, ...(dataDir ? { BENCH_PG_DATA_DIR: dataDir } : {}) },
    },
  )
  if (dataDir) child.once('exit', () => rmSync(dataDir, { recursive: true, force: true }))
  const url = await new Promise<string>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`embedded Postgres exited (${code})`)))
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (l) => {
      if (l.startsWith('URL ')) resolve(l.slice(4))
    })
  })
  return {
    url,
    child,
    close: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve()
        child.once('exit', () => resolve())
        child.stdin?.end()
        setTimeout(() => child.kill('SIGKILL'), 5000).unref()
      }),
  }
}
