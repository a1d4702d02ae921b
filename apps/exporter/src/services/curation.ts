import { createHash } from 'node:crypto'
import type { Config } from '@loopdm/platform/config'
import type { CurationRepository, SignalRow } from '../repositories/curation.repository.js'
import type { MessageRow } from '../repositories/messages.repository.js'
import type { AnswerSource, Candidate, TurnSignals } from './pairing.js'

/** Why a candidate trains nothing (one reason each, the first that applies, in this order). */
export type ExclusionReason =
  | 'gold'
  | 'operator'
  | 'deleted'
  | 'erased'
  | 'bot-excluded'
  | 'fallback'
  | 'negative'
  | 'takeover'
  | 'unanswered'
  | 'generic'
  | 'invalid'
  | 'duplicate'
  | 'near-duplicate'

const POSITIVE = new Set(['❤', '😍', '👍', '🙏', '🔥', '😂'])
const NEGATIVE = new Set(['👎', '😡', '😠', '🤬', '😢', '😞'])
const POSITIVE_NAMES = new Set(['love'])

/** The emoji without variation selectors or skin tones (👍🏽 is 👍). */
const bareEmoji = (e: string | null) => (e ?? '').replace(/[\uFE0F\u{1F3FB}-\u{1F3FF}]/gu, '')

/** Folds one turn's signals: negative beats positive, an unreact of a positive one is negative. */
export function foldSignals(rows: SignalRow[]): TurnSignals {
  let positive = false
  let negative = false
  let unreact = false
  let takeover = false
  for (const r of rows) {
    const e = bareEmoji(r.emoji)
    if (r.action === 'takeover') takeover = true
    else if (r.action === 'unreact') unreact = true
    else if (NEGATIVE.has(e)) negative = true
    else if (POSITIVE.has(e) || POSITIVE_NAMES.has(r.reaction ?? '')) positive = true
  }
  if (unreact && positive) negative = true
  return { negative, positive: positive && !negative, takeover }
}

/** 63 bits of sha1 as a signed bigint's decimal text (the column type of export_line_hashes). */
function hash63(scope: string, text: string): string {
  const d = createHash('sha1').update(scope).update(text).digest()
  return (d.readBigInt64BE(0) >> 1n).toString()
}

/** Lower case, punctuation and runs of spaces folded: "Hi!  Open?" and "hi open" are one text. */
export const normaliseText = (s: string) =>
  s
    .toLowerCase()
    .replace(/[\s\p{P}\p{S}]+/gu, ' ')
    .trim()

/** A valid example waiting for the page's duplicate check. */
export interface Accepted {
  line: string
  source: AnswerSource
  igUserId: string
  hash: string
  lineHash: string
}

/**
 * The curation policy (README "Curation"), streaming: what it needs per run is loaded once (the
 * generic answer texts from one aggregate query, held-out ids, erasures), signals are looked up
 * per page for that page's bot rows, and duplicates are found through `export_line_hashes`, so
 * the exporter's memory does not grow with the number of messages.
 */
export function createCurator(o: {
  repo: CurationRepository
  config: Config['export']['curate']
  /** Scopes the line hashes: one master per export directory. */
  scope: string
  /**
   * `master`: duplicates of anything in the master are dropped and new hashes claimed;
   * `dry-run`: the same check, nothing claimed; `backfill` (its own file, not the master's):
   * duplicates within the run only.
   */
  mode: 'master' | 'dry-run' | 'backfill'
}) {
  /** This run's hashes when it claims none in the table (dry run, backfill). */
  const local = o.mode === 'master' ? undefined : new Map<string, string>()
  let generic = new Set<string>()
  let gold = new Set<number>()
  let operator = new Set<number>()
  let erased = new Map<string, number>()
  let signals = false
  let top: Array<{ text: string; n: number }> = []

  return {
    get topRepeated() {
      return top
    },

    async init(): Promise<void> {
      const rep = await o.repo.repeatedAnswers(o.config.genericMinRepeats)
      generic = new Set(rep.generic)
      top = rep.top
      const held = await o.repo.heldOut()
      gold = new Set(held.gold)
      operator = new Set(held.operator)
      erased = await o.repo.erasures()
      signals = await o.repo.hasSignals()
    },

    isGeneric: (text: string) => generic.has(text),

    /** The signals of this page's bot rows, by ig_message_id (none looked up when there are none). */
    async pageSignals(rows: MessageRow[]): Promise<Map<string, TurnSignals>> {
      const out = new Map<string, TurnSignals>()
      if (!signals || o.config.botAnswers !== 'evidence') return out
      const ids: string[] = []
      for (const r of rows) {
        if (r.role === 'assistant' && r.igMessageId && r.author !== 'human' && r.author !== 'import')
          ids.push(r.igMessageId)
      }
      const byTurn = new Map<string, SignalRow[]>()
      for (const s of await o.repo.signalsFor(ids)) {
        const list = byTurn.get(s.igMessageId) ?? []
        list.push(s)
        byTurn.set(s.igMessageId, list)
      }
      for (const [id, list] of byTurn) out.set(id, foldSignals(list))
      return out
    },

    /** The policy's verdict on a candidate (format and duplicates are checked after). */
    decide(c: Candidate, userKey: string): ExclusionReason | undefined {
      if (c.userIds.some((id) => gold.has(id))) return 'gold'
      if (c.userIds.some((id) => operator.has(id)) || c.answerIds.some((id) => operator.has(id)))
        return 'operator'
      if (c.deleted || c.userText === '') return 'deleted'
      const erasedAt = erased.get(userKey)
      if (erasedAt !== undefined && Date.parse(c.createdAt) <= erasedAt) return 'erased'
      if (c.source === 'bot') {
        if (o.config.botAnswers === 'none') return 'bot-excluded'
        if (o.config.botAnswers === 'evidence') {
          if (c.fallback) return 'fallback'
          if (c.negative) return 'negative'
          if (c.takeover) return 'takeover'
          if (c.unanswered) return 'unanswered'
        }
      }
      if (c.generic) return 'generic'
      return undefined
    },

    accept(c: Candidate, line: string): Accepted {
      return {
        line,
        source: c.source,
        igUserId: c.igUserId,
        hash: hash63(o.scope, `N\0${normaliseText(c.userText)}\0${normaliseText(c.answer)}`),
        lineHash: hash63(o.scope, `L\0${line}`),
      }
    },

    /**
     * Drops duplicates from one page's accepted examples: a hash already in the master (or
     * earlier in this batch) is a `duplicate` when the whole line matches, else a
     * `near-duplicate`. New hashes are claimed for `runId` (not in a dry run).
     */
    async dedupe(batch: Accepted[], runId: number | undefined): Promise<Array<ExclusionReason | undefined>> {
      const seen = local ?? new Map<string, string>()
      const first: Accepted[] = []
      const verdict: Array<ExclusionReason | undefined> = batch.map((a) => {
        const line = seen.get(a.hash)
        if (line !== undefined) return line === a.lineHash ? 'duplicate' : 'near-duplicate'
        seen.set(a.hash, a.lineHash)
        first.push(a)
        return undefined
      })
      if (o.mode === 'backfill') return verdict
      const hashes = first.map((a) => a.hash)
      const fresh =
        o.mode === 'dry-run' || runId === undefined
          ? undefined
          : await o.repo.claim(
              hashes,
              first.map((a) => a.lineHash),
              runId,
            )
      const taken = hashes.filter((h) => !fresh?.has(h))
      const known = taken.length > 0 ? await o.repo.existing(taken) : new Map<string, string>()
      batch.forEach((a, i) => {
        if (verdict[i] !== undefined || (fresh?.has(a.hash) ?? false)) return
        const line = known.get(a.hash)
        if (line !== undefined) verdict[i] = line === a.lineHash ? 'duplicate' : 'near-duplicate'
      })
      return verdict
    },
  }
}

export type Curator = ReturnType<typeof createCurator>
