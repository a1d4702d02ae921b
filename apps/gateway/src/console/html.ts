/**
 * A tiny escaping template helper for the console's server-rendered pages. Every interpolated
 * value is HTML-escaped unless it is already `SafeHtml` (the output of `html` itself or `raw`),
 * so anything read from the database can be interpolated as is. Arrays are joined.
 */
export class SafeHtml {
  constructor(readonly value: string) {}
  toString(): string {
    return this.value
  }
}

const ESCAPES: Record<string, string> = {
  '&': '&amp;',
  '<': '&lt;',
  '>': '&gt;',
  '"': '&quot;',
  "'": '&#39;',
  '`': '&#96;',
}

export function escapeHtml(value: unknown): string {
  return String(value).replace(/[&<>"'`]/g, (c) => ESCAPES[c] as string)
}

type Interpolation = SafeHtml | string | number | boolean | null | undefined | Interpolation[]

function render(v: Interpolation): string {
  if (v === null || v === undefined || v === false) return ''
  if (v instanceof SafeHtml) return v.value
  if (Array.isArray(v)) return v.map(render).join('')
  return escapeHtml(v)
}

export function html(strings: TemplateStringsArray, ...values: Interpolation[]): SafeHtml {
  let out = strings[0] ?? ''
  values.forEach((v, i) => {
    out += render(v) + (strings[i + 1] ?? '')
  })
  return new SafeHtml(out)
}

/** Marks trusted markup (never user or database text) as safe. */
export const raw = (markup: string) => new SafeHtml(markup)

export const fmtDate = (d: Date | string | null | undefined): string =>
  d ? new Date(d).toISOString().replace('T', ' ').slice(0, 19) + 'Z' : '—'

export const fmtUsd = (n: number | null | undefined): string =>
  n === null || n === undefined ? '—' : `$${Number(n).toFixed(2)}`

export const fmtNum = (n: number | null | undefined, digits = 3): string =>
  n === null || n === undefined || Number.isNaN(Number(n)) ? '—' : Number(n).toFixed(digits)
