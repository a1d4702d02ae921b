import { randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname } from 'node:path'
import { z } from 'zod'
import { bool, bytes, num, optionalString } from './config-fields.js'

/**
 * The privacy and exposure settings (issue 17): the pseudonym secret, what /metrics shows to whom,
 * the webhook's body limit and whether training files stay at the provider. Spread into EnvSchema
 * (config-schema.ts); `privacyConfig` builds their nested part of Config.
 */
export const PrivacyEnvFields = {
  /**
   * The per-deployment secret of the pseudonymous user key (HMAC-SHA256 of the Instagram id).
   * `npm start` generates one into `.data/pseudonym.secret` when unset. Unset elsewhere → the
   * legacy unsalted key (a warning at start); an erase always looks for both keys.
   */
  PSEUDONYM_SECRET: optionalString.superRefine((v, ctx) => {
    if (v !== undefined && v.length < 16)
      ctx.addIssue({ code: 'custom', message: 'expected at least 16 characters (npm start generates one)' })
  }),
  /** Largest webhook body accepted; Meta batches up to 1000 events per delivery. */
  WEBHOOK_BODY_LIMIT: bytes('8MB'),
  /** Unset → /metrics on the gateway's PORT behind ADMIN_TOKEN; set → a metrics-only listener. */
  METRICS_PORT: num(0, { int: true, min: 0, max: 65535 }),
  /** Interface of the METRICS_PORT listener. */
  METRICS_HOST: z.string().optional().default('127.0.0.1'),
  /** Delete a tune's training file at the provider once its job ends (GDPR: no stray copies). */
  FT_DELETE_TRAINING_FILES: bool(true),
}

type PrivacyEnv = { [K in keyof typeof PrivacyEnvFields]: z.output<(typeof PrivacyEnvFields)[K]> }

export function privacyConfig(e: PrivacyEnv) {
  return {
    privacy: {
      /** HMAC key of the pseudonymous user key; undefined → the legacy unsalted hash. */
      pseudonymSecret: e.PSEUDONYM_SECRET,
    },
    metrics: {
      /** 0 → /metrics served on the gateway port with the admin token. */
      port: e.METRICS_PORT,
      host: e.METRICS_HOST,
    },
    webhook: { bodyLimitBytes: e.WEBHOOK_BODY_LIMIT },
  }
}

/** Where `npm start` keeps the generated PSEUDONYM_SECRET (relative to the working directory). */
export const PSEUDONYM_SECRET_FILE = '.data/pseudonym.secret'

/**
 * `env` with PSEUDONYM_SECRET taken from `.data/pseudonym.secret` when it is unset and the file
 * exists (written by `npm start`), so every process of a deployment — apps started on their own,
 * `npm run gdpr:erase`, the exporter CLI — computes the same pseudonymous keys.
 */
export function withPseudonymSecretFile(
  env: Record<string, string | undefined>,
  file = PSEUDONYM_SECRET_FILE,
): Record<string, string | undefined> {
  if (env.PSEUDONYM_SECRET?.trim() || !existsSync(file)) return env
  const secret = readFileSync(file, 'utf8').trim()
  return secret ? { ...env, PSEUDONYM_SECRET: secret } : env
}

/** Reads the secret file, creating it (32 random bytes, mode 0600) when missing. */
export function ensurePseudonymSecretFile(file = PSEUDONYM_SECRET_FILE): {
  secret: string
  created: boolean
} {
  if (existsSync(file)) {
    const secret = readFileSync(file, 'utf8').trim()
    if (secret.length >= 16) return { secret, created: false }
  }
  mkdirSync(dirname(file), { recursive: true })
  const secret = randomBytes(32).toString('base64url')
  writeFileSync(file, `${secret}\n`, { mode: 0o600 })
  return { secret, created: true }
}
