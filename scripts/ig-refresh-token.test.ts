import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { type FakeGraph, startFakeGraph } from '@loopdm/testing/fake-graph'
import { testDatabaseUrl } from '@loopdm/testing/fixtures'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runScript } from './lib/stack-proc.js'

let graph: FakeGraph
beforeAll(async () => {
  graph = await startFakeGraph()
})
afterAll(async () => {
  await graph?.close()
})
const run = (args: string[], token: string | undefined) =>
  runScript('ig-refresh-token', args, {
    ...process.env,
    DATABASE_URL: testDatabaseUrl(),
    IG_ACCESS_TOKEN: token,
    IG_GRAPH_BASE_URL: graph.baseUrl,
    LOG_LEVEL: 'silent',
  })

describe('npm run ig:refresh-token', () => {
  it('calls Meta’s refresh endpoint with the current token and prints the new one', async () => {
    const r = await run([], 'IGAAlonglived123')
    expect(r.code, r.output).toBe(0)
    expect(graph.refreshed).toContain('IGAAlonglived123')
    expect(r.stdout).toMatch(/^refreshed-\d+-IGAAlong/m)
    expect(r.stdout).toMatch(/valid until 20\d\d-/)
  })

  it('writes the new token into --env-file, keeping the other lines', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'loopdm-env-')), '.env')
    writeFileSync(file, 'PORT=3000\nIG_ACCESS_TOKEN=IGAAold\nADMIN_TOKEN=x\n')
    const r = await run(['--env-file', file], 'IGAAold')
    expect(r.code, r.output).toBe(0)
    const text = readFileSync(file, 'utf8')
    expect(text).toMatch(/^PORT=3000\nIG_ACCESS_TOKEN=refreshed-\d+-IGAAold\nADMIN_TOKEN=x\n$/)
    expect(r.stdout).not.toMatch(/refreshed-/) // the secret goes to the file, not the terminal
  })

  it('explains a refused (expired) token and exits 1', async () => {
    const r = await run([], 'expired-token')
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(/code 190/)
    expect(r.stderr).toMatch(/generate a new one/)
  })

  it('exits 2 when IG_ACCESS_TOKEN is unset', async () => {
    const r = await run([], undefined)
    expect(r.code).toBe(2)
  })
})
