import { addPiiCounts, type PiiCounts, redactPII } from '@loopdm/training-data/redaction'
import type { PendingTurn } from '../repositories/export-runs.repository.js'
import type { MessageRow, Position } from '../repositories/messages.repository.js'

/** Text marker an image becomes in training data (the URL itself is never exported). */
export const IMAGE_MARKER = '[image]'

/** Where an answer came from: staff in the app or console, imported history, or the model. */
export type AnswerSource = 'human' | 'import' | 'bot'

export interface FtMessage {
  role: 'system' | 'user' | 'assistant'
  content: string
  /** Assistant messages only: 0 = context (not learned), 1 = the answer taught. */
  weight?: 0 | 1
}

/** What the customer did about a bot turn (message_signals), looked up per page. */
export interface TurnSignals {
  negative: boolean
  positive: boolean
  takeover: boolean
}

interface AnswerPart {
  id: number
  text: string
  source: AnswerSource
  fallback: boolean
  generic: boolean
  at: number
  signals: TurnSignals | undefined
}

/** A customer turn and its answer, before curation decides whether it trains anything. */
export interface Candidate {
  igUserId: string
  /** Ids of the customer turn's rows (gold items and exclusions name them). */
  userIds: number[]
  answerIds: number[]
  /** The customer unsent (part of) the turn. */
  deleted: boolean
  /** When the turn started (Postgres timestamptz text). */
  createdAt: string
  userText: string
  answer: string
  source: AnswerSource
  /** Every taught answer row is a generic answer (repeated to many questions). */
  generic: boolean
  /** Bot answers: the evidence about them. */
  fallback: boolean
  negative: boolean
  positive: boolean
  takeover: boolean
  /** The customer's next question was never answered. */
  unanswered: boolean
  /** When the bot's last answer row was written (ms): a staff reply soon after takes it over. */
  lastAt: number
  /** Earlier turns of the conversation (oldest first), as the reply worker sends them. */
  context: FtMessage[]
}

interface UserState {
  /** The last `contextTurns` rows before the current turn (redacted; answers with weight 0). */
  recent: FtMessage[]
  context: FtMessage[]
  user: string[]
  userIds: number[]
  deleted: boolean
  /** Where the user's current turn starts: becomes the carry-over if the window ends. */
  userFrom: Position | undefined
  parts: AnswerPart[]
  /** The last bot-answered candidate, held until we know whether a human took over after it. */
  held: Candidate | undefined
}

export interface PairerOptions {
  /** Earlier rows given as context (MEMORY_RECENT_TURNS; 0 when memory is off). */
  contextTurns: number
  /** A human reply this soon after a bot answer is a takeover of it. */
  takeoverWindowMs: number
  /** True for an answer text given to too many questions (curation.ts loads the set). */
  isGeneric: (text: string) => boolean
}

const sourceOf = (author: string | null): AnswerSource =>
  author === 'human' ? 'human' : author === 'import' ? 'import' : 'bot'

const FALLBACK_REASONS = new Set(['circuit-open', 'fallback'])

function rowText(row: MessageRow): string {
  let text = row.content.trim()
  if (row.hasImage) text = text === '' ? IMAGE_MARKER : `${text} ${IMAGE_MARKER}`
  return text
}

/**
 * Turns a per-run stream of rows (any users, in (created_at, id) order) into candidates: per user,
 * consecutive customer rows are one turn, the assistant rows after it are its answer. The answer
 * taught is the human/imported rows when staff answered (a bot row before them was taken over),
 * else the bot's. Images become `[image]`, empty rows are dropped and PII is redacted from every
 * row once. An assistant row with no customer turn before it trains nothing (it stays context).
 *
 * A bot-answered candidate is held until the customer's next turn is answered (a human answer
 * within the takeover window marks it taken over) or the window ends (a still unanswered next
 * turn marks it `unanswered`). A turn still unanswered at `finish()` is returned as pending so
 * the next run can complete it.
 */
export function createPairer(opts: PairerOptions) {
  const users = new Map<string, UserState>()
  const pii: PiiCounts = {}

  const remember = (s: UserState, m: FtMessage) => {
    if (opts.contextTurns <= 0) return
    s.recent.push(m)
    if (s.recent.length > opts.contextTurns) s.recent.shift()
  }

  const complete = (igUserId: string, s: UserState): Candidate => {
    const staff = s.parts.filter((p) => p.source !== 'bot')
    const taught = staff.length > 0 ? staff : s.parts
    const bot = staff.length === 0
    const c: Candidate = {
      igUserId,
      userIds: s.userIds,
      answerIds: s.parts.map((p) => p.id),
      deleted: s.deleted,
      createdAt: s.userFrom?.createdAt ?? '',
      userText: s.user.join('\n'),
      answer: taught.map((p) => p.text).join('\n'),
      source: staff.some((p) => p.source === 'human') ? 'human' : bot ? 'bot' : 'import',
      generic: taught.every((p) => p.generic),
      fallback: bot && taught.some((p) => p.fallback),
      negative: bot && taught.some((p) => p.signals?.negative === true),
      positive: bot && taught.some((p) => p.signals?.positive === true),
      takeover: bot && taught.some((p) => p.signals?.takeover === true),
      unanswered: false,
      lastAt: 0,
      context: s.context,
    }
    for (const t of s.user) remember(s, { role: 'user', content: t })
    for (const p of s.parts) remember(s, { role: 'assistant', content: p.text, weight: 0 })
    s.user = []
    s.userIds = []
    s.deleted = false
    s.parts = []
    s.userFrom = undefined
    return c
  }

  /** The candidates a completed turn releases: the held one (now decided) and/or this one. */
  const settle = (s: UserState, c: Candidate, firstStaffAt: number | undefined): Candidate[] => {
    const out: Candidate[] = []
    const prev = s.held
    s.held = undefined
    if (prev) {
      if (firstStaffAt !== undefined && firstStaffAt - prev.lastAt <= opts.takeoverWindowMs)
        prev.takeover = true
      out.push(prev)
    }
    if (c.source === 'bot') s.held = c
    else out.push(c)
    return out
  }

  const state = (igUserId: string): UserState => {
    let s = users.get(igUserId)
    if (!s) {
      s = {
        recent: [],
        context: [],
        user: [],
        userIds: [],
        deleted: false,
        userFrom: undefined,
        parts: [],
        held: undefined,
      }
      users.set(igUserId, s)
    }
    return s
  }

  const finishTurn = (igUserId: string, s: UserState): Candidate[] => {
    const firstStaff = s.parts.find((p) => p.source !== 'bot')
    let lastBot: AnswerPart | undefined
    for (const p of s.parts) if (p.source === 'bot') lastBot = p
    const c = complete(igUserId, s)
    // Within the turn: a bot row answered by staff inside the window was taken over (the staff
    // rows are what is taught); the bot's last row time decides a takeover in the next turn.
    c.lastAt = lastBot?.at ?? 0
    return settle(s, c, firstStaff?.at)
  }

  return {
    pii,
    /** Feeds one row (with its signals, for bot rows); returns the candidates it settled. */
    push(row: MessageRow, signals?: TurnSignals): Candidate[] | undefined {
      if (row.role !== 'user' && row.role !== 'assistant') return undefined
      const text = rowText(row)
      const s = state(row.igUserId)
      if (row.role === 'user') {
        if (text === '' && !row.deleted) return undefined
        const done = s.parts.length > 0 ? finishTurn(row.igUserId, s) : undefined
        if (s.userIds.length === 0) {
          s.userFrom = { createdAt: row.createdAt, id: row.id }
          s.context = s.recent.slice()
        }
        s.userIds.push(row.id)
        if (row.deleted) s.deleted = true
        if (text !== '') s.user.push(redact(text, pii))
        return done
      }
      if (text === '') return undefined
      const red = redact(text, pii)
      if (s.userIds.length === 0) {
        remember(s, { role: 'assistant', content: red, weight: 0 })
        return undefined
      }
      s.parts.push({
        id: row.id,
        text: red,
        source: sourceOf(row.author),
        fallback: row.routeReason !== null && FALLBACK_REASONS.has(row.routeReason),
        generic: opts.isGeneric(text),
        at: Date.parse(row.createdAt),
        signals,
      })
      return undefined
    },
    /** Ends the window: settled candidates, and the unanswered customer turns to carry over. */
    finish(): { candidates: Candidate[]; pending: PendingTurn[] } {
      const candidates: Candidate[] = []
      const pending: PendingTurn[] = []
      for (const [igUserId, s] of users) {
        if (s.userIds.length > 0 && s.parts.length > 0) candidates.push(...finishTurn(igUserId, s))
        else if (s.user.length > 0 && s.userFrom) {
          if (s.held) s.held.unanswered = true
          pending.push({ igUserId, fromCreatedAt: s.userFrom.createdAt, fromId: s.userFrom.id })
        }
        if (s.held) candidates.push(s.held)
      }
      users.clear()
      return { candidates, pending }
    },
  }
}

function redact(text: string, pii: PiiCounts): string {
  const r = redactPII(text)
  addPiiCounts(pii, r.counts)
  return r.text
}

/** The example line's object: system prompt, context turns (assistant weight 0), turn, answer. */
export function buildExample(systemPrompt: FtMessage, c: Candidate): { messages: FtMessage[] } {
  if (c.context.length === 0) {
    return {
      messages: [
        systemPrompt,
        { role: 'user', content: c.userText },
        { role: 'assistant', content: c.answer },
      ],
    }
  }
  // Context answers are remembered with weight 0 already (shared, not copied per example).
  const weighted = c.context.some((m) => m.role === 'assistant')
  return {
    messages: [
      systemPrompt,
      ...c.context,
      { role: 'user', content: c.userText },
      weighted
        ? { role: 'assistant', content: c.answer, weight: 1 }
        : { role: 'assistant', content: c.answer },
    ],
  }
}
