import type { FastifyPluginAsync, InjectOptions } from 'fastify'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { GatewayRouteOptions } from '../src/routes/route-deps.js'
import { buildTestGateway, TEST_ADMIN_TOKEN, type TestGateway } from './support/test-gateway.js'

const extraRoutes: FastifyPluginAsync<GatewayRouteOptions> = async (app) => {
  app.get('/boom', { schema: {} }, async () => {
    throw new Error('database password is hunter2')
  })
  app.post('/echo', { schema: { body: { type: 'object', required: ['x'] } } }, async () => ({ ok: true }))
}

describe('admin API', () => {
  let sut: TestGateway
  const auth = { authorization: `Bearer ${TEST_ADMIN_TOKEN}` }
  const inject = (opts: InjectOptions) => sut.gateway.app.inject(opts)

  beforeAll(async () => {
    sut = await buildTestGateway({ worker: false, gateway: { adminRoutes: [extraRoutes] } })
  })
  afterAll(async () => {
    await sut?.close()
  })

  describe('when no or a wrong token is sent', () => {
    it('answers 401 on every admin route', async () => {
      for (const [method, url] of [
        ['GET', '/admin/models'],
        ['GET', '/admin/costs'],
        ['POST', '/admin/jobs/export'],
        ['GET', '/admin/queues'],
        ['GET', '/admin/queues/api/queues'],
        ['GET', '/admin/canary'],
        ['POST', '/admin/candidates/1/canary'],
        ['POST', '/admin/canary/stop'],
        ['GET', '/admin/shadow'],
        ['POST', '/admin/candidates/1/shadow'],
        ['GET', '/admin/boom'],
      ] as const) {
        expect((await inject({ method, url })).statusCode, `${method} ${url}`).toBe(401)
        expect((await inject({ method, url, headers: { authorization: 'Bearer nope' } })).statusCode).toBe(
          401,
        )
      }
    })

    it('answers 401 before looking at the body (then 400 with the token)', async () => {
      const bad = {
        method: 'POST' as const,
        url: '/admin/jobs/evaluate',
        payload: '{not json',
        headers: { 'content-type': 'application/json' },
      }
      expect((await inject(bad)).statusCode).toBe(401)
      expect((await inject({ ...bad, headers: { ...bad.headers, ...auth } })).statusCode).toBe(400)
      expect((await inject({ method: 'POST', url: '/admin/echo', payload: {} })).statusCode).toBe(401)
      expect(
        (await inject({ method: 'POST', url: '/admin/echo', payload: {}, headers: auth })).statusCode,
      ).toBe(400)
    })
  })

  describe('GET /admin/models', () => {
    it('shows the active model as this instance holds it, previous, candidates and models', async () => {
      const res = await inject({ url: '/admin/models', headers: auth })
      expect(res.statusCode).toBe(200)
      const body = res.json()
      expect(Object.keys(body)).toEqual(
        expect.arrayContaining([
          'active',
          'previous',
          'candidates',
          'models',
          'routing',
          'base',
          'vision',
          'fineTunes',
        ]),
      )
      const held = sut.gateway.holder.current()
      expect(body.active).toEqual(
        held ? { model: held.model, version: held.version, since: held.since.toISOString() } : null,
      )
      expect(body.routing).toEqual(
        expect.arrayContaining([expect.objectContaining({ role: 'vision', model: 'gpt-4.1' })]),
      )
    })
  })

  describe('GET /admin/costs', () => {
    it('sums the cost ledger over the period by operation and model', async () => {
      const op = `op-gwtest-${Date.now()}`
      await sut.pool.query(
        `insert into cost_ledger (operation, model, purpose, prompt_tokens, completion_tokens, cost_usd, created_at)
         values ($1, 'gpt-4.1-mini', 'reply', 100, 20, 0.25, '2001-02-03T04:00:00Z'),
                ($1, 'gpt-4.1-mini', 'reply', 50, 10, 0.5, '2001-02-03T05:00:00Z')`,
        [op],
      )
      try {
        const res = await inject({
          url: '/admin/costs?since=2001-02-03T00:00:00Z&until=2001-02-04T00:00:00Z',
          headers: auth,
        })
        expect(res.statusCode).toBe(200)
        const group = res.json().groups.find((g: { operation: string }) => g.operation === op)
        expect(group).toMatchObject({
          model: 'gpt-4.1-mini',
          calls: 2,
          promptTokens: 150,
          completionTokens: 30,
          costUsd: 0.75,
        })
        expect(res.json().totalUsd).toBeGreaterThanOrEqual(0.75)
      } finally {
        await sut.pool.query('delete from cost_ledger where operation = $1', [op])
      }
    })

    it('defaults to this month and rejects a bad date with 400', async () => {
      expect((await inject({ url: '/admin/costs', headers: auth })).statusCode).toBe(200)
      const bad = await inject({ url: '/admin/costs?since=yesterday-ish', headers: auth })
      expect(bad.statusCode).toBe(400)
      expect(bad.json().error).toMatch(/since/)
    })
  })

  describe('POST /admin/jobs/:queue', () => {
    it('enqueues a manual job validated by the shared schema', async () => {
      const res = await inject({
        method: 'POST',
        url: '/admin/jobs/tune',
        payload: { dryRun: true },
        headers: auth,
      })
      expect(res.statusCode).toBe(202)
      const job = await sut.gateway.queues.tune.getJob(res.json().jobId)
      expect(job?.data).toEqual({ trigger: 'manual', dryRun: true, force: false })
      expect(job?.name).toBe('tune')
    })

    it('uses the deterministic evaluate id and the cleanup job name', async () => {
      const ev = await inject({
        method: 'POST',
        url: '/admin/jobs/evaluate',
        payload: { candidate: 'ft:a:b::c' },
        headers: auth,
      })
      expect(ev.statusCode).toBe(202)
      expect(ev.json().jobId).toBe('evaluate-ft_a_b__c')
      const cl = await inject({
        method: 'POST',
        url: '/admin/jobs/cleanup?name=retire-models',
        payload: { dryRun: true },
        headers: auth,
      })
      expect(cl.json()).toMatchObject({ queue: 'cleanup', name: 'retire-models' })
      expect(cl.json().jobs).toEqual([
        expect.objectContaining({ queue: 'retirement', name: 'retire-models' }),
      ])
    })

    it('keeps cleanup as an alias that enqueues retention and retirement', async () => {
      const res = await inject({ method: 'POST', url: '/admin/jobs/cleanup', payload: {}, headers: auth })
      expect(res.statusCode).toBe(202)
      const jobs = res.json().jobs as Array<{
        queue: 'retention' | 'retirement'
        name: string
        jobId: string
      }>
      expect(jobs.map((j) => [j.queue, j.name])).toEqual([
        ['retention', 'retention'],
        ['retirement', 'retire-models'],
      ])
      for (const j of jobs) {
        const job = await sut.gateway.queues[j.queue].getJob(j.jobId)
        expect(job?.data).toEqual({ trigger: 'manual', dryRun: false })
      }
      const one = await inject({ method: 'POST', url: '/admin/jobs/retention', payload: {}, headers: auth })
      expect(one.json()).toMatchObject({ queue: 'retention', name: 'retention' })
    })

    it('answers 400 for an unknown queue, job name or an invalid payload', async () => {
      expect(
        (await inject({ method: 'POST', url: '/admin/jobs/dm', payload: {}, headers: auth })).statusCode,
      ).toBe(400)
      expect(
        (await inject({ method: 'POST', url: '/admin/jobs/cleanup?name=x', payload: {}, headers: auth }))
          .statusCode,
      ).toBe(400)
      const res = await inject({ method: 'POST', url: '/admin/jobs/evaluate', payload: {}, headers: auth })
      expect(res.statusCode).toBe(400)
      expect(res.json().error).toMatch(/candidate/)
      const exp = await inject({
        method: 'POST',
        url: '/admin/jobs/export',
        payload: { since: 'last week' },
        headers: auth,
      })
      expect(exp.statusCode).toBe(400)
    })
  })

  describe('Bull Board at /admin/queues', () => {
    it('asks a browser for basic auth and serves the board for basic or bearer auth', async () => {
      const none = await inject({ url: '/admin/queues' })
      expect(none.headers['www-authenticate']).toMatch(/^Basic/)
      const basic = `Basic ${Buffer.from(`admin:${TEST_ADMIN_TOKEN}`).toString('base64')}`
      const page = await inject({ url: '/admin/queues', headers: { authorization: basic } })
      expect(page.statusCode).toBe(200)
      expect(page.headers['content-type']).toMatch(/html/)
      const api = await inject({ url: '/admin/queues/api/queues', headers: auth })
      expect(api.statusCode).toBe(200)
      const names = (api.json().queues as Array<{ name: string }>).map((q) => q.name).sort()
      expect(names).toEqual(['dm', 'evaluate', 'export', 'retention', 'retirement', 'shadow', 'tune'])
    })
  })

  describe('when a route fails', () => {
    it('answers 500 with a generic body', async () => {
      const res = await inject({ url: '/admin/boom', headers: auth })
      expect(res.statusCode).toBe(500)
      expect(res.json()).toEqual({ error: 'Internal Server Error' })
      expect(res.body).not.toContain('hunter2')
    })
  })

  describe('health', () => {
    it('answers /healthz and /readyz', async () => {
      expect((await inject({ url: '/healthz' })).json()).toEqual({ ok: true })
      const ready = await inject({ url: '/readyz' })
      expect(ready.statusCode).toBe(200)
      expect(ready.json().checks).toEqual({ db: true, redis: true, activeModelLoaded: true, sending: true })
    })
  })
})
