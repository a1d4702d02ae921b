import { isIP } from 'node:net'
import { CronExpressionParser } from 'cron-parser'
import { z } from 'zod'

/**
 * The field types of the configuration schema (config.ts): each parses one environment variable
 * (a string or unset) with its default, and reports a bad value in words naming what was expected.
 */

export const bool = (def: boolean) =>
  z
    .string()
    .optional()
    .transform((v, ctx) => {
      if (v === undefined || v.trim() === '') return def
      const s = v.trim().toLowerCase()
      if (['true', '1', 'yes', 'on'].includes(s)) return true
      if (['false', '0', 'no', 'off'].includes(s)) return false
      ctx.addIssue({ code: 'custom', message: `expected true or false, got "${v}"` })
      return z.NEVER
    })

export const optionalString = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === '' ? undefined : v.trim()))

export const num = (def: number, opts: { int?: boolean; min?: number; max?: number } = {}) =>
  z
    .string()
    .optional()
    .transform((v, ctx) => {
      if (v === undefined || v.trim() === '') return def
      const n = Number(v)
      const range = `${opts.min ?? '-∞'}..${opts.max ?? '∞'}`
      const what = opts.int ? `an integer in ${range}` : `a number in ${range}`
      if (
        !Number.isFinite(n) ||
        (opts.int && !Number.isInteger(n)) ||
        (opts.min !== undefined && n < opts.min) ||
        (opts.max !== undefined && n > opts.max)
      ) {
        ctx.addIssue({ code: 'custom', message: `expected ${what}, got "${v}"` })
        return z.NEVER
      }
      return n
    })

export const optionalNum = (opts: { min?: number } = {}) =>
  z
    .string()
    .optional()
    .transform((v, ctx) => {
      if (v === undefined || v.trim() === '') return undefined
      const n = Number(v)
      if (!Number.isFinite(n) || (opts.min !== undefined && n < opts.min)) {
        ctx.addIssue({ code: 'custom', message: `expected a number ≥ ${opts.min ?? '-∞'}, got "${v}"` })
        return z.NEVER
      }
      return n
    })

export const url = (protocols: string[], def?: string) =>
  z
    .string()
    .optional()
    .transform((v, ctx) => {
      const s = v === undefined || v.trim() === '' ? def : v.trim()
      if (s === undefined) return undefined
      try {
        const u = new URL(s)
        if (!protocols.includes(u.protocol.replace(/:$/, ''))) throw new Error('protocol')
        return s
      } catch {
        ctx.addIssue({ code: 'custom', message: `expected a ${protocols.join('/')} URL, got "${v}"` })
        return z.NEVER
      }
    })

const UNITS: Record<string, number> = { '': 1, B: 1, KB: 1024, MB: 1024 ** 2, GB: 1024 ** 3 }
/** Parses "52428800", "50MB", "512 KB" (binary units) into bytes. */
export function parseBytes(v: string): number | undefined {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([KMG]?B)?\s*$/i.exec(v)
  if (!m) return undefined
  const unit = UNITS[(m[2] ?? '').toUpperCase()]
  return unit === undefined ? undefined : Math.floor(Number(m[1]) * unit)
}
export const bytes = (def: string) =>
  z
    .string()
    .optional()
    .transform((v, ctx) => {
      const n = parseBytes(v === undefined || v.trim() === '' ? def : v)
      if (n === undefined || n <= 0) {
        ctx.addIssue({ code: 'custom', message: `expected a size such as 52428800 or 50MB, got "${v}"` })
        return z.NEVER
      }
      return n
    })

export const cron = (def: string) =>
  z
    .string()
    .optional()
    .transform((v, ctx) => {
      const s = v === undefined || v.trim() === '' ? def : v.trim()
      try {
        CronExpressionParser.parse(s)
        return s
      } catch (err) {
        ctx.addIssue({
          code: 'custom',
          message: `expected a cron expression like "${def}", got "${v}" (${(err as Error).message})`,
        })
        return z.NEVER
      }
    })

export const oneOf = <T extends string>(values: readonly T[], def: T) =>
  z
    .string()
    .optional()
    .transform((v, ctx) => {
      if (v === undefined || v.trim() === '') return def
      const s = v.trim() as T
      if (!values.includes(s)) {
        ctx.addIssue({ code: 'custom', message: `expected one of ${values.join('|')}, got "${v}"` })
        return z.NEVER
      }
      return s
    })

export const timezone = z
  .string()
  .optional()
  .transform((v, ctx) => {
    if (v === undefined || v.trim() === '') return undefined
    try {
      new Intl.DateTimeFormat('en', { timeZone: v.trim() })
      return v.trim()
    } catch {
      ctx.addIssue({
        code: 'custom',
        message: `expected an IANA time zone such as Europe/Berlin, got "${v}"`,
      })
      return z.NEVER
    }
  })

export const prices = z
  .string()
  .optional()
  .transform((v, ctx) => {
    if (v === undefined || v.trim() === '') return {}
    try {
      const parsed = z
        .record(z.string(), z.object({ input: z.number().nonnegative(), output: z.number().nonnegative() }))
        .parse(JSON.parse(v))
      return parsed
    } catch {
      ctx.addIssue({
        code: 'custom',
        message: 'expected JSON like {"gpt-4o-mini":{"input":0.00015,"output":0.0006}} (USD per 1K tokens)',
      })
      return z.NEVER
    }
  })

const PROXY_PRESETS = new Set(['loopback', 'linklocal', 'uniquelocal'])

/**
 * Fastify's `trustProxy`: `true` / `false`, or a comma list of proxy addresses
 * (IPs, CIDRs, or the presets loopback / linklocal / uniquelocal). Only a request whose peer is a
 * trusted proxy has its X-Forwarded-For / -Proto honoured.
 */
export const trustProxy = (def: string) =>
  z
    .string()
    .optional()
    .transform((v, ctx): boolean | string => {
      const s = (v === undefined || v.trim() === '' ? def : v).trim().toLowerCase()
      if (s === 'true' || s === 'false') return s === 'true'
      const list = s.split(',').map((x) => x.trim())
      const bad = list.filter((x) => {
        if (PROXY_PRESETS.has(x)) return false
        const [ip, bits, extra] = x.split('/')
        const family = isIP(ip ?? '')
        if (family === 0 || extra !== undefined) return true
        if (bits === undefined) return false
        const n = Number(bits)
        return !(/^\d+$/.test(bits) && n <= (family === 4 ? 32 : 128))
      })
      if (bad.length === 0) return list.join(',')
      ctx.addIssue({
        code: 'custom',
        message: `expected true, false or a comma list of proxy IPs/CIDRs (presets: loopback, linklocal, uniquelocal); "${bad.join('", "')}" is none of these`,
      })
      return z.NEVER
    })
