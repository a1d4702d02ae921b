import type { Config } from '@loopdm/platform/config'
import type { CurationRepository, SignalRow } from '../repositories/curation.repository.js'
import type { MessageRow } from '../repositories/messages.repository.js'
import { type Hashed, hashExample, LineHashSet, seedOf } from './line-hashes.js'
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

/** A valid example waiting for the page's duplicate check. */
export interface Accepted extends Hashed {
  line: string
  source: AnswerSource
  igUserId: string
  /** A bot answer a positive reaction marked. */
  preferred: boolean
}

/**
 * The curation policy (README "Curation"), streaming: what it needs per run is loaded once (the
 * generic answer texts from one aggregate query, held-out ids, erasures), signals are looked up
 * per page for that page's bot rows, and duplicates are found in an in-memory table of 64-bit
 * hashes (line-hashes.ts; loaded from and written back to `export_line_hashes`), so the
 * exporter's memory grows with neither the number of messages nor the length of the texts.
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
  const seed = seedOf(o.scope)
  const known = new LineHashSet()
  /** Writes of this run's new hashes, chained so they never wait on the read path. */
  let writes: Promise<void> = Promise.resolve()
  let writeError: Error | undefined
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
      if (o.mode === 'backfill') return
      for await (const b of o.repo.hashBlocks()) {
        for (let i = 0; i + 16 <= b.length; i += 16)
          known.add(b.readInt32BE(i), b.readInt32BE(i + 4), b.readInt32BE(i + 8), b.readInt32BE(i + 12))
      }
    },

    /** Waits for this run's hash writes (before the run is recorded `written`). */
    async flush(): Promise<void> {
      await writes
      if (writeError) throw writeError
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
    decide(c: Candidate, userKey: (igUserId: string) => string): ExclusionReason | undefined {
      if (c.userIds.some((id) => gold.has(id))) return 'gold'
      if (c.userIds.some((id) => operator.has(id)) || c.answerIds.some((id) => operator.has(id)))
        return 'operator'
      if (c.deleted || c.userText === '') return 'deleted'
      const erasedAt = erased.size > 0 ? erased.get(userKey(c.igUserId)) : undefined
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
      const h = hashExample(seed, c.userText, c.answer, line)
      return {
        line,
        source: c.source,
        igUserId: c.igUserId,
        hi: h.hi,
        lo: h.lo,
        lineHi: h.lineHi,
        lineLo: h.lineLo,
        preferred: c.positive,
      }
    },

    /**
     * Drops duplicates from one page's accepted examples: a hash the master (or this run) already
     * holds is a `duplicate` when the whole line matches, else a `near-duplicate`. A nightly run's
     * new hashes are written back for `runId` in the background (`flush()` awaits them).
     */
    dedupe(batch: Accepted[], runId: number | undefined): Array<ExclusionReason | undefined> {
      const block = o.mode === 'master' ? Buffer.allocUnsafe(batch.length * 16) : undefined
      let n = 0
      const verdict = batch.map((a): ExclusionReason | undefined => {
        const seen = known.check(a.hi, a.lo, a.lineHi, a.lineLo)
        if (seen) return seen === 'duplicate' ? 'duplicate' : 'near-duplicate'
        known.add(a.hi, a.lo, a.lineHi, a.lineLo)
        if (block) {
          block.writeInt32BE(a.hi, n)
          block.writeInt32BE(a.lo, n + 4)
          block.writeInt32BE(a.lineHi, n + 8)
          block.writeInt32BE(a.lineLo, n + 12)
          n += 16
        }
        return undefined
      })
      if (block && n > 0 && runId !== undefined) {
        const written = block.subarray(0, n)
        writes = writes.then(() =>
          o.repo.insertHashes(written, runId).catch((err: Error) => {
            writeError ??= err
          }),
        )
      }
      return verdict
    },
  }
}

export type Curator = ReturnType<typeof createCurator>
