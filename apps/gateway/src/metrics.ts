import type { Queue } from 'bullmq'
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client'

/**
 * The gateway's Prometheus metrics, on a registry of its own (never the global one), so several
 * gateways in one test process do not collide.
 */
export function createMetrics(opts: { defaultMetrics?: boolean } = {}) {
  const registry = new Registry()
  if (opts.defaultMetrics ?? true) collectDefaultMetrics({ register: registry, prefix: 'loopdm_gateway_' })
  const queues: Queue[] = []
  const m = {
    registry,
    webhookRequests: new Counter({
      name: 'loopdm_webhook_requests_total',
      help: 'Webhook requests by HTTP status',
      labelNames: ['method', 'status'] as const,
      registers: [registry],
    }),
    dmLatency: new Histogram({
      name: 'loopdm_dm_reply_seconds',
      help: 'Webhook receipt to last reply part delivered, by model',
      labelNames: ['model'] as const,
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120],
      registers: [registry],
    }),
    modelSelected: new Counter({
      name: 'loopdm_model_selected_total',
      help: 'Model router decisions by model and reason',
      labelNames: ['model', 'reason'] as const,
      registers: [registry],
    }),
    fallbacks: new Counter({
      name: 'loopdm_model_fallbacks_total',
      help: 'Replies retried on the base model after the selected model failed',
      labelNames: ['from', 'to'] as const,
      registers: [registry],
    }),
    activeModel: new Gauge({
      name: 'loopdm_active_model',
      help: 'The active model this instance uses (1 for the current one)',
      labelNames: ['model'] as const,
      registers: [registry],
    }),
    activeModelVersion: new Gauge({
      name: 'loopdm_active_model_version',
      help: 'Registry version of the active model this instance holds',
      registers: [registry],
    }),
    modelSwaps: new Counter({
      name: 'loopdm_model_swaps_total',
      help: 'Hot swaps of the active model by source (message, reconcile, start)',
      labelNames: ['source'] as const,
      registers: [registry],
    }),
    sends: new Counter({
      name: 'loopdm_sends_total',
      help: 'Reply parts by send result (sent, logged, retry, failed, unknown = maybe sent, outside_window, held)',
      labelNames: ['result'] as const,
      registers: [registry],
    }),
    dmExpired: new Counter({
      name: 'loopdm_dm_expired_total',
      help: 'Customer messages not answered within DM_MAX_AGE_MS (recorded expired, never sent)',
      registers: [registry],
    }),
    dmRedriven: new Counter({
      name: 'loopdm_dm_redriven_total',
      help: 'Delayed dm jobs moved forward by the redrive sweep once the provider answered again',
      registers: [registry],
    }),
    ...takeoverMetrics(registry),
    ...canaryMetrics(registry),
    queueDepth: new Gauge({
      name: 'loopdm_queue_depth',
      help: 'Jobs per queue and state',
      labelNames: ['queue', 'state'] as const,
      registers: [registry],
      async collect() {
        await Promise.all(
          queues.map(async (q) => {
            try {
              const counts = await q.getJobCounts('waiting', 'active', 'delayed', 'failed', 'prioritized')
              for (const [state, n] of Object.entries(counts)) this.set({ queue: q.name, state }, n)
            } catch {
              // Redis down: keep the last values; /readyz reports the outage.
            }
          }),
        )
      },
    }),
    /** Queues whose depth /metrics reports. */
    watchQueues(qs: Queue[]) {
      queues.push(...qs)
    },
    setActiveModel(model: string | null, version: number) {
      m.activeModel.reset()
      if (model) m.activeModel.set({ model }, 1)
      m.activeModelVersion.set(version)
    },
  }
  return m
}

/** The canary (issue 19): its split, each arm's counts and rates at the last check, checks and decisions. */
function canaryMetrics(registry: Registry) {
  return {
    canaryPercent: new Gauge({
      name: 'loopdm_canary_percent',
      help: 'Share of customers this instance routes to the canary (0 when none runs)',
      registers: [registry],
    }),
    canaryRouted: new Counter({
      name: 'loopdm_canary_routed_total',
      help: 'Replies this instance answered during a canary, by arm',
      labelNames: ['arm'] as const,
      registers: [registry],
    }),
    canaryReplies: new Gauge({
      name: 'loopdm_canary_replies',
      help: 'Replies per arm of the live canary at the last check',
      labelNames: ['arm'] as const,
      registers: [registry],
    }),
    canaryRate: new Gauge({
      name: 'loopdm_canary_rate',
      help: 'Per-reply rates per arm at the last check (bad = takeover or negative reaction)',
      labelNames: ['arm', 'signal'] as const,
      registers: [registry],
    }),
    canaryChecks: new Counter({
      name: 'loopdm_canary_checks_total',
      help: 'Canary checks run by this instance, by decision',
      labelNames: ['decision'] as const,
      registers: [registry],
    }),
    shadowAnswers: new Counter({
      name: 'loopdm_shadow_answers_total',
      help: 'Shadow answers by result (stored, capped: SHADOW_MAX_USD reached, error)',
      labelNames: ['result'] as const,
      registers: [registry],
    }),
    canaryLogLR: new Gauge({
      name: 'loopdm_canary_log_lr',
      help: 'The sequential test statistic (mSPRT log-likelihood ratio vs no difference) at the last check',
      registers: [registry],
    }),
  }
}

/** Human takeover, held and skipped DMs, and the Send API token block. */
function takeoverMetrics(registry: Registry) {
  return {
    takeovers: new Counter({
      name: 'loopdm_takeovers_total',
      help: 'Human takeovers started, by source (echo: staff replied in Instagram; console: reply as human)',
      labelNames: ['source'] as const,
      registers: [registry],
    }),
    dmHeld: new Counter({
      name: 'loopdm_dm_held_total',
      help: 'Customer messages stored but not answered, by reason (takeover, send_blocked)',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    dmSkipped: new Counter({
      name: 'loopdm_dm_skipped_total',
      help: 'Customer messages not answered, by reason (outside_window: older than 24 h; deleted: unsent)',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    sendBlocked: new Gauge({
      name: 'loopdm_send_blocked',
      help: '1 while the Send API refuses IG_ACCESS_TOKEN (code 190) and replies are held',
      registers: [registry],
    }),
  }
}

export type GatewayMetrics = ReturnType<typeof createMetrics>
