import type { ThreadMessage } from '../console.repository.js'
import { fmtDate, html, type SafeHtml } from '../html.js'
import type { ConsoleOptions } from '../options.js'
import { csrfField, unavailable } from './layout.js'

const WHEN_TAKEOVER = 'human takeover (issue 13) is wired into the console'
const WHEN_REPLY = 'console replies through the Send API (issue 13) are wired in'
const WHEN_GOLD = 'the deployment gold set (issue 16) is wired in'
const WHEN_EXCLUDE = 'curation (issue 16) is wired in'

function who(m: ThreadMessage): { cls: string; label: string } {
  if (m.role === 'user') return { cls: 'user', label: 'customer' }
  if (m.author === 'human') return { cls: 'human', label: 'human (staff)' }
  if (m.author === 'import') return { cls: 'human', label: 'imported' }
  const policy = m.policy && m.policy !== m.model ? ` · policy ${m.policy}` : ''
  return { cls: 'bot', label: `bot · ${m.model ?? 'unknown model'}${policy}` }
}

export function threadView(args: {
  igUserId: string
  userKey: string
  messages: ThreadMessage[]
  takeover: { paused: boolean; until?: Date | string | null } | null
  opts: ConsoleOptions
  csrf: string
}): SafeHtml {
  const { igUserId, opts, csrf } = args
  const base = `/console/conversations/${encodeURIComponent(igUserId)}`
  const form = (action: string, inner: SafeHtml) =>
    html`<form method="post" action="${base}/${action}">${csrfField(csrf)}${inner}</form>`
  const turns = args.messages.map((m) => {
    const w = who(m)
    const exchange =
      m.role === 'assistant'
        ? html`<details><summary>Training data</summary><div class="actions">
          ${
            opts.gold
              ? form(
                  'gold',
                  html`<input type="hidden" name="messageId" value="${m.id}">
                  <label for="ideal-${m.id}">Ideal answer</label>
                  <textarea id="ideal-${m.id}" name="ideal" maxlength="4000" required>${m.content}</textarea>
                  <button type="submit" data-testid="mark-gold">Mark as gold</button>`,
                )
              : html`<div>${unavailable('Mark as gold', 'mark-gold', WHEN_GOLD)}</div>`
          }
          ${
            opts.exclude
              ? form(
                  'exclude',
                  html`<input type="hidden" name="messageId" value="${m.id}"><button type="submit" class="secondary" data-testid="exclude">Exclude from training</button>`,
                )
              : html`<div>${unavailable('Exclude from training', 'exclude', WHEN_EXCLUDE)}</div>`
          }</div></details>`
        : ''
    return html`<article class="turn ${w.cls}" data-testid="turn" data-role="${w.cls}">
      <div class="meta">${w.label} · ${fmtDate(m.createdAt)}${m.hasImage ? ' · image' : ''}</div>
      <p>${m.content}</p>${exchange}</article>`
  })
  const paused = args.takeover?.paused ?? false
  return html`<p>pseudonymous key <code>${args.userKey}</code>${
    args.takeover
      ? html` · <strong data-testid="takeover-state">${paused ? `taken over${args.takeover.until ? ` until ${fmtDate(args.takeover.until)}` : ''}` : 'bot answering'}</strong>`
      : ''
  }</p>
  <div class="actions">
    ${
      opts.takeover
        ? html`${form('takeover', html`<button type="submit" data-testid="takeover"${paused ? html` disabled` : ''}>Take over</button><p class="note">The bot holds its replies to this customer.</p>`)}
          ${form('resume', html`<button type="submit" class="secondary" data-testid="resume"${paused ? '' : html` disabled`}>Resume the bot</button>`)}`
        : html`<div>${unavailable('Take over', 'takeover', WHEN_TAKEOVER)}</div><div>${unavailable('Resume the bot', 'resume', WHEN_TAKEOVER)}</div>`
    }
  </div>
  <h2>Thread</h2>
  ${args.messages.length ? turns : html`<p class="muted">No messages stored for this customer.</p>`}
  <h2>Reply as staff</h2>
  ${
    opts.reply
      ? form(
          'reply',
          html`<label for="reply-text">Message to the customer</label>
          <textarea id="reply-text" name="text" maxlength="2000" required data-testid="reply-box"></textarea>
          <p class="note">Sent through the Send API as a human reply; starts a takeover.</p>
          <button type="submit" data-testid="send-reply">Send</button>`,
        )
      : html`<label for="reply-text">Message to the customer</label>
        <textarea id="reply-text" disabled data-testid="reply-box" aria-describedby="reply-note"></textarea>
        <p class="note" id="reply-note">available when ${WHEN_REPLY}</p>`
  }
  <h2>GDPR erase</h2>
  ${
    opts.erase
      ? form(
          'erase',
          html`<label for="confirm">Type the customer id <code>${igUserId}</code> to erase everything about them</label>
          <input id="confirm" name="confirm" type="text" autocomplete="off" required data-testid="erase-confirm">
          <p class="note">Deletes their messages, embeddings, outbox rows, signals, export lines and kept jobs; keeps an audit row without content.</p>
          <button type="submit" class="danger" data-testid="erase">Erase this customer</button>`,
        )
      : unavailable('Erase this customer', 'erase', 'the GDPR erase service is passed to the console')
  }`
}
