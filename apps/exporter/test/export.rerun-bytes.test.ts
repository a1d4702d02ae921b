import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Pool } from '@loopdm/db/pool'
import { testConfig, testPool, uniqueId } from '@loopdm/testing/fixtures'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createExportService } from '../src/services/export.service.js'
import { pairsOf, removeUsers, seed, silentLogger, tempDir } from './helpers.js'

describe('same-day export rerun', () => {
  let pool: Pool
  const user = uniqueId('bytes')
  const tmp = tempDir('rerun-bytes-')
  beforeAll(async () => {
    pool = await testPool()
  })
  afterAll(async () => {
    await removeUsers(pool, [user])
    await pool.end()
    tmp.cleanup()
  })

  it('copies the day’s earlier lines byte for byte, a "€29" across a read-chunk boundary included', async () => {
    // The day's file as an earlier run left it: its "€" (3 bytes in UTF-8) straddles byte 65,536,
    // the boundary of the 64 KiB chunks a file is read in.
    const head = '{"messages":[{"role":"system","content":"SYS"},{"role":"user","content":"'
    const mid = '"},{"role":"assistant","content":"'
    const pad = 'a'.repeat(65_535 - Buffer.byteLength(head) - Buffer.byteLength(mid))
    const line = `${head}${pad}${mid}€29 a scarf"}]}\n`
    const before = Buffer.from(`${line}${line}`)
    expect(before.subarray(65_535, 65_538).toString('utf8')).toBe('€')
    const file = join(tmp.dir, 'fine_tune_2041-03-03.jsonl')
    writeFileSync(file, before)
    writeFileSync(`${file}.manifest`, 'k\t2041-03-03\nk\t2041-03-03\n')

    await seed(pool, [
      { user, role: 'user', content: `a new question ${user}`, at: 0 },
      { user, role: 'assistant', content: `a new answer ${user}`, at: 1 },
    ])
    const sut = createExportService({
      db: pool,
      config: testConfig({ EXPORT_DIR: tmp.dir }),
      logger: silentLogger(),
    })
    const r = await sut.run({ trigger: 'manual', dryRun: false, date: '2041-03-03' })
    expect(r.examples).toBeGreaterThanOrEqual(1)
    const after = readFileSync(file)
    expect(after.subarray(0, before.length).equals(before)).toBe(true)
    expect(pairsOf(file, [user])).toEqual([{ user, q: `a new question ${user}`, a: `a new answer ${user}` }])
  })
})
