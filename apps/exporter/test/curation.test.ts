import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Pool } from '@loopdm/db/pool'
import { testConfig, testPool, uniqueId } from '@loopdm/testing/fixtures'
import { MASTER_FILE, manifestSource } from '@loopdm/training-data/export-layout'
import { validateFtFile } from '@loopdm/training-data/ft-format'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { formatExportSummary } from '../src/export-cli.js'
import { createExportService, type ExportResult } from '../src/services/export.service.js'
import { pairsOf, readLines, removeUsers, silentLogger, tempDir } from './helpers.js'

interface Row {
  user: string
  role: 'user' | 'assistant'
  content: string
  at: number
  author?: 'bot' | 'human' | 'import'
  route?: string
  deleted?: boolean
  mid?: string
}

/** Inserts rows with authorship, route reason, unsent flag and Instagram id; returns their ids. */
async function insert(pool: Pool, rows: Row[], base: number): Promise<number[]> {
  const ids: number[] = []
  for (const r of rows) {
    const q = await pool.query<{ id: string }>(
      `insert into conversation_messages (ig_user_id, role, content, author, route_reason, deleted_at, ig_message_id, created_at)
       values ($1, $2, $3, $4, $5, case when $6 then now() end, $7, $8) returning id`,
      [
        r.user,
        r.role,
        r.content,
        r.role === 'assistant' ? (r.author ?? 'bot') : null,
        r.route ?? null,
        r.deleted ?? false,
        r.mid ?? null,
        new Date(base + r.at * 60_000).toISOString(),
      ],
    )
    ids.push(Number(q.rows[0]?.id))
  }
  return ids
}

async function signal(pool: Pool, user: string, mid: string, action: string, emoji?: string) {
  await pool.query(
    `insert into message_signals (ig_user_id, mid, action, emoji, event_ts) values ($1, $2, $3, $4, $5)`,
    [user, mid, action, emoji ?? null, Date.now() + Math.floor(Math.random() * 1e6)],
  )
}

describe('curated export', () => {
  let pool: Pool
  const tag = uniqueId('cur')
  const u = (name: string) => `${tag}-${name}`
  const users = [
    'takeover',
    'signal',
    'neg',
    'unreact',
    'pos',
    'fallback',
    'g1',
    'g2',
    'g3',
    'g4',
    'g5',
    'unsent',
    'dup1',
    'dup2',
    'near',
    'import',
    'unanswered',
    'gold',
    'operator',
    'multi',
    'dup3',
  ].map(u)
  const tmp = tempDir('curation-')
  const generic = `Thanks for your message! A team member will get back to you soon. (${tag})`
  let run1: ExportResult
  const ids: Record<string, number[]> = {}

  beforeAll(async () => {
    pool = await testPool()
    const config = testConfig({ EXPORT_DIR: tmp.dir, SYSTEM_PROMPT: 'SYS' })
    const sut = createExportService({ db: pool, config, logger: silentLogger() })
    // Drain what other suites left after the watermark, so this run reads this scenario only.
    await sut.run({ trigger: 'manual', dryRun: false, date: '2040-01-01' })
    const max = await pool.query<{ t: Date }>('select max(created_at) as t from conversation_messages')
    const base = Math.max(Date.now(), (max.rows[0]?.t ?? new Date()).getTime()) + 3600_000
    const q = (name: string, text: string, at: number, extra: Partial<Row> = {}): Row => ({
      user: u(name),
      role: 'user',
      content: `${text} [${tag}]`,
      at,
      ...extra,
    })
    const a = (name: string, text: string, at: number, extra: Partial<Row> = {}): Row => ({
      user: u(name),
      role: 'assistant',
      content: `${text} [${tag}]`,
      at,
      ...extra,
    })
    const scenario: Record<string, Row[]> = {
      // A bot answer a human replaced 10 minutes later (the human's answer is taught).
      takeover: [
        q('takeover', 'do you have the green scarf?', 0),
        a('takeover', 'We have many scarves.', 1),
        q('takeover', 'the green one?', 5),
        a('takeover', 'Yes, the green scarf is in stock, €29.', 11, { author: 'human' }),
      ],
      // A takeover signal the gateway recorded on the part the outbox sent.
      signal: [q('signal', 'opening hours?', 0), a('signal', 'Open 24/7!', 1, { mid: `${tag}-s#reply` })],
      neg: [q('neg', 'can I return it?', 0), a('neg', 'No returns ever.', 1, { mid: `${tag}-n#reply` })],
      unreact: [q('unreact', 'is it wool?', 0), a('unreact', 'It is silk.', 1, { mid: `${tag}-u#reply` })],
      pos: [q('pos', 'do you ship to Vienna?', 0), a('pos', 'Yes, 3-5 days.', 1, { mid: `${tag}-p#reply` })],
      fallback: [
        q('fallback', 'price of the bag?', 0),
        a('fallback', 'One moment.', 1, { route: 'fallback' }),
      ],
      ...Object.fromEntries(
        [1, 2, 3, 4, 5].map((i) => [
          `g${i}`,
          [q(`g${i}`, `question ${i} about sizes`, 0), { ...a(`g${i}`, '', 1), content: generic }],
        ]),
      ),
      unsent: [
        q('unsent', '', 0, { deleted: true }),
        a('unsent', 'Sure, I will send it to that address.', 1),
      ],
      dup1: [
        q('dup1', 'How much is the blue hat?', 0),
        a('dup1', 'The blue hat is €19.', 1, { author: 'human' }),
      ],
      dup2: [
        q('dup2', 'How much is the blue hat?', 0),
        a('dup2', 'The blue hat is €19.', 1, { author: 'human' }),
      ],
      near: [
        q('near', 'how much is the BLUE hat??', 0),
        a('near', 'The blue hat is €19!', 1, { author: 'human' }),
      ],
      import: [
        q('import', 'gift wrapping?', 0),
        a('import', 'Yes, free gift wrapping.', 1, { author: 'import' }),
      ],
      unanswered: [
        q('unanswered', 'do you sell gloves?', 0),
        a('unanswered', 'We sell hats.', 1),
        q('unanswered', 'but gloves??', 2),
      ],
      gold: [q('gold', 'what is your address?', 0), a('gold', 'Main St 1.', 1, { author: 'human' })],
      operator: [q('operator', 'any discount?', 0), a('operator', 'Use code X.', 1, { author: 'human' })],
      multi: [
        q('multi', 'hi, is the red coat back?', 0),
        a('multi', 'Yes, since Monday.', 1, { author: 'human' }),
        q('multi', 'in size M?', 2),
        a('multi', 'Size M is available.', 3, { author: 'human' }),
      ],
    }
    for (const [name, rows] of Object.entries(scenario)) ids[name] = await insert(pool, rows, base)
    await pool.query(
      `insert into outbox (mid, ig_user_id, part, parts, text, status, sent_mid) values ($1, $2, 0, 1, 'x', 'sent', $3)`,
      [`${tag}-s`, u('signal'), `${tag}-graph-s`],
    )
    await signal(pool, u('signal'), `${tag}-graph-s`, 'takeover')
    await signal(pool, u('neg'), `${tag}-n#reply`, 'react', '👎')
    await signal(pool, u('unreact'), `${tag}-u#reply`, 'react', '❤️')
    await signal(pool, u('unreact'), `${tag}-u#reply`, 'unreact')
    await signal(pool, u('pos'), `${tag}-p#reply`, 'react', '😍')
    await pool.query(
      `insert into gold_items (message_id, ig_user_id, customer_text, ideal_answer) values ($1, $2, 'q', 'a')`,
      [ids.gold?.[0], u('gold')],
    )
    await pool.query('insert into curation_exclusions (message_id) values ($1)', [ids.operator?.[1]])
    run1 = await sut.run({ trigger: 'manual', dryRun: false, date: '2040-01-02' })
  })
  afterAll(async () => {
    await pool.query('delete from message_signals where ig_user_id = any($1)', [users])
    await pool.query('delete from outbox where ig_user_id = any($1)', [users])
    await pool.query('delete from gold_items where ig_user_id = any($1)', [users])
    await removeUsers(pool, users)
    await pool.end()
    tmp.cleanup()
  })

  const t = (s: string) => `${s} [${tag}]`

  it('exports exactly the eligible examples, each with its source', () => {
    const file = join(tmp.dir, 'fine_tune_2040-01-02.jsonl')
    const got = pairsOf(file, users).map((p) => ({ user: p.user.slice(tag.length + 1), q: p.q, a: p.a }))
    expect(got.sort((x, y) => x.user.localeCompare(y.user) || x.q.localeCompare(y.q))).toEqual([
      { user: 'dup1', q: t('How much is the blue hat?'), a: t('The blue hat is €19.') },
      { user: 'import', q: t('gift wrapping?'), a: t('Yes, free gift wrapping.') },
      { user: 'multi', q: t('hi, is the red coat back?'), a: t('Yes, since Monday.') },
      { user: 'multi', q: t('in size M?'), a: t('Size M is available.') },
      { user: 'pos', q: t('do you ship to Vienna?'), a: t('Yes, 3-5 days.') },
      { user: 'takeover', q: t('the green one?'), a: t('Yes, the green scarf is in stock, €29.') },
    ])
    const sources = readLines(`${file}.manifest`).map(manifestSource)
    expect(sources.filter((s) => s === 'human')).toHaveLength(4)
    expect(sources.filter((s) => s === 'import')).toHaveLength(1)
    expect(sources.filter((s) => s === 'bot')).toHaveLength(1)
  })

  it('counts each exclusion by reason in the report file, the result and the summary', () => {
    const expected = {
      takeover: 2,
      negative: 2,
      fallback: 1,
      generic: 5,
      deleted: 1,
      duplicate: 1,
      'near-duplicate': 1,
      unanswered: 1,
      gold: 1,
      operator: 1,
    }
    expect(run1.curation.excluded).toEqual(expected)
    expect(run1.curation.included).toEqual({ human: 4, import: 1, bot: 1 })
    expect(run1.curation.preferred).toBe(1)
    const report = JSON.parse(readFileSync(join(tmp.dir, 'fine_tune_2040-01-02.jsonl.report.json'), 'utf8'))
    expect(report.excluded).toEqual(expected)
    expect(report.included).toEqual({ human: 4, import: 1, bot: 1 })
    expect(report.tokens).toBeGreaterThan(0)
    expect(report.topRepeated[0]).toEqual({ text: generic, n: 5 })
    const summary = formatExportSummary(run1)
    expect(summary).toContain('human 4, import 1, bot 1 (preferred 1)')
    expect(summary).toContain('generic 5')
    expect(summary).toContain('near-duplicate 1')
  })

  it('writes multi-turn examples in the reply layout: context answers weight 0, the taught one 1', async () => {
    const file = join(tmp.dir, 'fine_tune_2040-01-02.jsonl')
    const multi = readLines(file)
      .map((l) => JSON.parse(l).messages)
      .find((m) => m[m.length - 2].content === t('in size M?'))
    expect(multi).toEqual([
      { role: 'system', content: 'SYS' },
      { role: 'user', content: t('hi, is the red coat back?') },
      { role: 'assistant', content: t('Yes, since Monday.'), weight: 0 },
      { role: 'user', content: t('in size M?') },
      { role: 'assistant', content: t('Size M is available.'), weight: 1 },
    ])
    expect((await validateFtFile(file)).problems).toEqual([])
  })

  it('never appends a duplicate line to the master on a rerun or a later day', async () => {
    const config = testConfig({ EXPORT_DIR: tmp.dir, SYSTEM_PROMPT: 'SYS' })
    const sut = createExportService({ db: pool, config, logger: silentLogger() })
    const max = await pool.query<{ t: Date }>('select max(created_at) as t from conversation_messages')
    const base = (max.rows[0] as { t: Date }).t.getTime() + 60_000
    await insert(
      pool,
      [
        { user: u('dup3'), role: 'user', content: t('How much is the blue hat?'), at: 0 },
        { user: u('dup3'), role: 'assistant', content: t('The blue hat is €19.'), at: 1, author: 'human' },
      ],
      base,
    )
    const again = await sut.run({ trigger: 'manual', dryRun: false, date: '2040-01-02' })
    expect(again.curation.excluded).toEqual({ duplicate: 1 })
    const later = await sut.run({ trigger: 'manual', dryRun: false, date: '2040-01-03' })
    expect(later.examples).toBe(0)
    const master = readLines(join(tmp.dir, MASTER_FILE))
    expect(master.length).toBeGreaterThan(0)
    expect(new Set(master).size).toBe(master.length)
  })
})
