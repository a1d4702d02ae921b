/**
 * The deployment's gold set (README "Gold set"):
 * - `npm run gold:add -- --from-message <id> [--ideal "…"] [--facts a,b] [--actor name]` — a customer
 *   turn; the ideal answer defaults to the human answer that followed it, else the answer that followed;
 * - `npm run gold:add -- --text "…" --ideal "…" [--facts a,b]` — typed in by hand;
 * - `npm run gold:list [-- --json]`, `npm run gold:remove -- <id>`.
 * Uses DATABASE_URL, or the embedded database (the running stack's, else one this process starts).
 * Exit 0 on success, 2 on bad usage, 1 when the database refuses (unknown id, not a customer turn, …).
 */
import { userInfo } from 'node:os'
import { openDatabase } from '@loopdm/db/open-database'
import { createGoldRepository, type GoldItemRow, parseMessageId } from '@loopdm/models/gold-items'
import { loadConfigOrExit } from '@loopdm/platform/config'
import { LoopDmError } from '@loopdm/platform/errors'
import { cliLogger, parseArgs, say } from './lib/cli.js'

const USAGE = `usage:
  npm run gold:add -- --from-message <id> [--ideal "…"] [--facts a,b]
  npm run gold:add -- --text "…" --ideal "…" [--facts a,b]
  npm run gold:list [-- --json]
  npm run gold:remove -- <id>`

const [command, ...rest] = process.argv.slice(2)
const { flags, positionals } = parseArgs(rest)
function usage(why: string): never {
  process.stderr.write(`${why}\n${USAGE}\n`)
  process.exit(2)
}
const str = (name: string) => {
  const v = flags[name]
  if (v === true) usage(`--${name} needs a value`)
  return v === undefined ? undefined : String(v)
}

type Run = (gold: ReturnType<typeof createGoldRepository>) => Promise<void>
let run: Run
if (command === 'add') {
  const from = str('from-message')
  const text = str('text')
  if ((from === undefined) === (text === undefined))
    usage('gold:add needs exactly one of --from-message or --text')
  if (positionals.length) usage(`unexpected argument "${positionals[0]}"`)
  const facts = str('facts')
  const input = {
    fromMessageId: from === undefined ? undefined : safe(() => parseMessageId(from, '--from-message')),
    customerText: text,
    idealAnswer: str('ideal'),
    requiredFacts: facts?.split(',') ?? [],
    createdBy: str('actor') ?? `cli:${userInfo().username}`,
  }
  run = async (gold) => {
    const r = await gold.add(input)
    say(`added gold item ${r.id}${r.messageId ? ` from message ${r.messageId}` : ''}`)
    say(describe(r))
  }
} else if (command === 'list') {
  run = async (gold) => {
    const rows = await gold.list()
    if (flags.json) return say(JSON.stringify(rows))
    if (!rows.length)
      return say('the gold set is empty: the evaluator uses EVAL_GOLD_PATH (evals/gold.jsonl)')
    for (const r of rows) say(describe(r))
    say(`${rows.length} gold items`)
  }
} else if (command === 'remove') {
  if (positionals.length !== 1) usage('gold:remove needs one gold item id')
  const id = safe(() => parseMessageId(positionals[0], 'gold item id'))
  run = async (gold) => {
    const r = await gold.remove(id)
    say(`removed gold item ${r.id}`)
  }
} else {
  usage(command ? `unknown command "${command}"` : 'missing command')
}

function safe<T>(fn: () => T): T {
  try {
    return fn()
  } catch (err) {
    return usage((err as Error).message)
  }
}

function describe(r: GoldItemRow): string {
  const one = (s: string) => (s.length > 80 ? `${s.slice(0, 79)}…` : s).replace(/\s+/g, ' ')
  const facts = r.requiredFacts.length ? ` facts: ${r.requiredFacts.join(', ')}` : ''
  return `#${r.id}${r.messageId ? ` (message ${r.messageId})` : ''} Q: ${one(r.customerText)} → A: ${one(r.idealAnswer)}${facts}`
}

const config = loadConfigOrExit()
const logger = cliLogger(config, 'gold')
try {
  const db = await openDatabase(config, { migrate: true, logger, max: 2, applicationName: 'loopdm-gold' })
  try {
    await run(createGoldRepository(db.pool))
  } finally {
    await db.close()
  }
} catch (err) {
  const e = err as Error
  process.stderr.write(
    `gold:${command} failed: ${e instanceof LoopDmError ? e.message : `unexpected error: ${e.message}`}\n`,
  )
  process.exit(1)
}
process.exit(0)
