import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Pool } from '@loopdm/db/pool'
import type { Config } from '@loopdm/platform/config'
import { createLogger, type Logger } from '@loopdm/platform/logger'
import { captureLogger } from '@loopdm/testing/capture-logger'
import { testConfig, uniqueId } from '@loopdm/testing/fixtures'
import { waitFor } from '@loopdm/testing/wait'
import type { Job, Queue } from 'bullmq'
import { createTunerDeps } from '../src/jobs/tune.worker.js'

export const silentLogger: Logger = createLogger({ level: 'silent' })

/** A logger whose lines are collected (JSON objects) for assertions. */
export function capturingLogger(): { logger: Logger; lines: Array<Record<string, unknown>> } {
  return captureLogger({ level: 'debug' })
}

export function tmpExportDir(): string {
  return mkdtempSync(join(tmpdir(), 'loopdm-tuner-'))
}

/** A valid chat fine-tuning JSONL file of `n` examples, unique to this call (hence its own sha256). */
export function writeTrainingFile(dir: string, n: number, name = `${uniqueId('train')}.jsonl`): string {
  const tag = uniqueId('x')
  const lines: string[] = []
  for (let i = 0; i < n; i++) {
    lines.push(
      JSON.stringify({
        messages: [
          { role: 'system', content: 'You are the shop assistant.' },
          { role: 'user', content: `Do you ship order ${i} to Berlin? (${tag})` },
          { role: 'assistant', content: `Yes, order ${i} ships to Berlin within 3 days.` },
        ],
      }),
    )
  }
  const path = join(dir, name)
  writeFileSync(path, `${lines.join('\n')}\n`)
  return path
}

export function tunerTestConfig(
  baseURL: string,
  exportDir: string,
  extra: Record<string, string> = {},
): Config {
  return testConfig({
    OPENAI_BASE_URL: baseURL,
    OPENAI_MAX_RETRIES: '3',
    EXPORT_DIR: exportDir,
    FT_POLL_INTERVAL_MS: '100',
    FT_MIN_EXAMPLES: '10',
    // These suites test the fine-tuning state machine; the exemplar learner has its own.
    LEARNING_BACKEND: 'fine-tune',
    ...extra,
  })
}

export function makeDeps(
  config: Config,
  pool: Pool,
  logger: Logger = silentLogger,
  fetchImpl?: typeof fetch,
) {
  return createTunerDeps({ config, logger, pool, fetchImpl })
}

/** {@link waitFor} with positional options, as the tuner suites call it. */
export function until<T>(
  check: () => Promise<T | undefined | null | false>,
  timeoutMs = 30_000,
  everyMs = 100,
): Promise<T> {
  return waitFor(check, { what: 'tuner test condition', timeoutMs, intervalMs: everyMs }) as Promise<T>
}

export async function jobState(queue: Queue, id: string): Promise<{ job: Job | undefined; state: string }> {
  const job = await queue.getJob(id)
  return { job, state: job ? await job.getState() : 'missing' }
}

/** Obliterates a test queue (its prefix is unique to the test). */
export async function dropQueue(q: Queue): Promise<void> {
  await q.obliterate({ force: true }).catch(() => {})
}
