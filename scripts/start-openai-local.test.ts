import { rmSync } from 'node:fs'
import { portAnswers } from '@loopdm/db/embedded'
import { afterEach, describe, expect, it } from 'vitest'
import { waitFor } from './lib/cli.js'
import { pidsOf, type StackProc, spawnStack } from './lib/stack-proc.js'

/**
 * `npm start` and the provider: openai-local runs only when OPENAI_API_KEY is unset. The unset
 * case (openai-local started and answering /v1/models) is asserted in start.test.ts; here the key
 * is set, and the supervisor must start every other app but never openai-local.
 */
describe('npm start with OPENAI_API_KEY set', () => {
  let stack: StackProc | undefined
  afterEach(async () => {
    if (stack && stack.child.exitCode === null) {
      const pgid = stack.pgid
      process.kill(-pgid, 'SIGINT')
      const stopped = await waitFor(async () => (await pidsOf(pgid, '.')).length === 0, 15_000)
      if (!stopped) process.kill(-pgid, 'SIGKILL')
    }
    if (stack) rmSync(stack.dir, { recursive: true, force: true })
  })

  it('starts the apps but never openai-local, and prints that OpenAI itself is the provider', async () => {
    stack = await spawnStack(
      {
        OPENAI_API_KEY: 'sk-test-not-a-real-key',
        // A dead local address: nothing in this test may reach the network.
        OPENAI_BASE_URL: 'http://127.0.0.1:9/v1',
      },
      'loopdm-start-key-',
    )
    const { pgid } = stack
    const localPort = stack.port + 2
    const out = () => stack?.output() ?? ''
    // openai-local would be spawned first; once the last app is running the supervisor is past it.
    const appsUp = await waitFor(
      async () => (await pidsOf(pgid, 'apps/evaluator/src/main.ts')).length > 0,
      90_000,
    )
    expect(appsUp, out()).toBe(true)
    expect((await pidsOf(pgid, 'apps/gateway/src/main.ts')).length).toBe(1)
    expect(await pidsOf(pgid, 'apps/openai-local/src/main.ts')).toEqual([])
    expect(await portAnswers(localPort)).toBe(false)
    expect(out()).not.toContain('[openai-local]')
    expect(out()).not.toContain('openai-local, offline')
    // The summary comes after the gateway's readiness wait; when it is printed it names OpenAI.
    const summary = await waitFor(() => Promise.resolve(out().includes('Ctrl-C stops everything')), 30_000)
    if (summary) expect(out()).toContain('api.openai.com (OPENAI_API_KEY is set)')
    expect(await pidsOf(pgid, 'apps/openai-local/src/main.ts')).toEqual([])
  }, 150_000)
})
