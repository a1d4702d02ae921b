import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Pool } from '@loopdm/db/pool'
import { testDatabaseUrl, testPool, uniqueId } from '@loopdm/testing/fixtures'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runScript } from './lib/stack-proc.js'

let pool: Pool
beforeAll(async () => {
  pool = await testPool()
})
afterAll(async () => {
  await pool?.end()
})

const run = (args: string[]) =>
  runScript('import-history', args, { ...process.env, DATABASE_URL: testDatabaseUrl(), LOG_LEVEL: 'silent' })

describe('npm run import:history', () => {
  it('imports past conversations as import turns, idempotently, with a progress line', async () => {
    const user = uniqueId('hist')
    const dir = mkdtempSync(join(tmpdir(), 'loopdm-hist-'))
    const file = join(dir, 'history.jsonl')
    writeFileSync(
      file,
      [
        {
          igUserId: user,
          role: 'user',
          text: 'Do you have the beanie in green?',
          timestamp: 1_760_000_000_000,
        },
        {
          igUserId: user,
          role: 'assistant',
          text: 'Yes, forest green!',
          timestamp: '2025-10-09T08:53:50Z',
          author: 'Mira',
        },
        {
          igUserId: user,
          role: 'user',
          text: 'Great, thanks',
          timestamp: 1_760_000_060_000,
          id: 'thread-1-3',
        },
      ]
        .map((l) => JSON.stringify(l))
        .join('\n'),
    )
    const first = await run([file])
    expect(first.code, first.output).toBe(0)
    expect(first.stderr).toMatch(/import:history: 3 lines, 3 imported, 0 already there, 0 invalid/)
    const rows = await pool.query(
      `select role, content, author, context, ig_message_id as mid, created_at as "createdAt"
         from conversation_messages where ig_user_id = $1 order by created_at`,
      [user],
    )
    expect(rows.rows.map((r) => [r.role, r.author, r.content])).toEqual([
      ['user', null, 'Do you have the beanie in green?'],
      ['assistant', 'import', 'Yes, forest green!'],
      ['user', null, 'Great, thanks'],
    ])
    expect(rows.rows[1].context).toEqual({ author: 'Mira' })
    expect(rows.rows[2].mid).toBe('import:thread-1-3')
    expect(rows.rows[0].createdAt.getTime()).toBe(1_760_000_000_000)

    const again = await run([file])
    expect(again.code).toBe(0)
    expect(again.stdout).toMatch(/imported 0 turns \(3 were already imported\)/)
    const n = await pool.query('select count(*)::int as n from conversation_messages where ig_user_id = $1', [
      user,
    ])
    expect(n.rows[0].n).toBe(3)
  })

  it('names each invalid line and exits 1, importing the valid ones', async () => {
    const user = uniqueId('hist-bad')
    const file = join(mkdtempSync(join(tmpdir(), 'loopdm-hist-')), 'bad.jsonl')
    writeFileSync(
      file,
      [
        JSON.stringify({ igUserId: user, role: 'user', text: 'ok', timestamp: 1_760_000_000_000 }),
        '{"igUserId": "x", "role": "staff", "text": "hi", "timestamp": 1}',
        'not json',
        JSON.stringify({ igUserId: user, role: 'assistant', text: 'fine', timestamp: 'yesterday' }),
      ].join('\n'),
    )
    const r = await run([file])
    expect(r.code).toBe(1)
    expect(r.stdout).toMatch(/line 2: role: role must be "user" or "assistant"/)
    expect(r.stdout).toMatch(/line 3: not JSON/)
    expect(r.stdout).toMatch(/line 4: timestamp/)
    const n = await pool.query('select count(*)::int as n from conversation_messages where ig_user_id = $1', [
      user,
    ])
    expect(n.rows[0].n).toBe(1)
  })

  it('exits 2 with usage for a missing file', async () => {
    const r = await run(['/nonexistent/history.jsonl'])
    expect(r.code).toBe(2)
    expect(r.stderr).toMatch(/no such file/)
  })
})
