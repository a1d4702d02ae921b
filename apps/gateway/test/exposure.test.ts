import { mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { igUser, newMid } from '@loopdm/testing/webhook'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildMetricsApp } from '../src/metrics-app.js'
import {
  buildTestGateway,
  TEST_ADMIN_TOKEN,
  TEST_IG_ACCOUNT,
  type TestGateway,
} from './support/test-gateway.js'

const auth = { authorization: `Bearer ${TEST_ADMIN_TOKEN}` }

/** One delivery of `n` message events of `textBytes` each, the way Meta batches them. */
function batch(n: number, textBytes: number) {
  const text = 'x'.repeat(textBytes)
  const messaging = Array.from({ length: n }, (_, i) => ({
    sender: { id: `${igUser()}${i}` },
    recipient: { id: TEST_IG_ACCOUNT },
    timestamp: Date.now(),
    message: { mid: newMid(), text },
  }))
  return { object: 'instagram', entry: [{ id: TEST_IG_ACCOUNT, time: Date.now(), messaging }] }
}

describe('gateway exposure (issue 17)', () => {
  let sut: TestGateway
  let exportDir: string
  beforeAll(async () => {
    exportDir = mkdtempSync(join(tmpdir(), 'loopdm-exposure-'))
    sut = await buildTestGateway({ worker: false, env: { EXPORT_DIR: exportDir } })
  })
  afterAll(async () => {
    await sut?.gateway.queues.dm.obliterate({ force: true }).catch(() => {})
    await sut?.close()
  })

  describe('when Meta batches 1000 events into one delivery', () => {
    it('accepts a 1000-event body over the old 1 MB limit', async () => {
      const body = JSON.stringify(batch(1000, 1000))
      expect(Buffer.byteLength(body)).toBeGreaterThan(1024 * 1024)
      const res = await sut.postWebhook(body)
      expect(res.statusCode).toBe(200)
      expect(await sut.gateway.queues.dm.getJobCountByTypes('waiting', 'delayed')).toBeGreaterThanOrEqual(
        1000,
      )
    })

    it('answers 413 only above WEBHOOK_BODY_LIMIT (8 MB)', async () => {
      const body = JSON.stringify(batch(1, 8 * 1024 * 1024 + 10))
      const res = await sut.postWebhook(body)
      expect(res.statusCode).toBe(413)
    })
  })

  describe('when /metrics is scraped on the public port', () => {
    it('answers 401 without the admin token and 200 with it', async () => {
      expect((await sut.gateway.app.inject({ url: '/metrics' })).statusCode).toBe(401)
      const bad = await sut.gateway.app.inject({ url: '/metrics', headers: { authorization: 'Bearer nope' } })
      expect(bad.statusCode).toBe(401)
      const ok = await sut.gateway.app.inject({ url: '/metrics', headers: auth })
      expect(ok.statusCode).toBe(200)
      expect(ok.body).toContain('loopdm_queue_depth')
    })
  })

  describe('when a tune names a training file', () => {
    const tune = (file: string) =>
      sut.gateway.app.inject({ method: 'POST', url: '/admin/jobs/tune', payload: { file }, headers: auth })

    it('refuses paths outside EXPORT_DIR with a 400 naming the file', async () => {
      const outside = mkdtempSync(join(tmpdir(), 'loopdm-outside-'))
      writeFileSync(join(outside, 'secrets.jsonl'), '{}\n')
      symlinkSync(outside, join(exportDir, 'escape'))
      for (const file of [
        '/etc/passwd',
        `${exportDir}/../../etc/passwd`,
        '../../../etc/passwd',
        join(outside, 'secrets.jsonl'),
        'escape/secrets.jsonl',
      ]) {
        const res = await tune(file)
        expect(res.statusCode, file).toBe(400)
        expect(res.json().error).toContain(file)
      }
      expect(await sut.gateway.queues.tune.getJobCountByTypes('waiting', 'delayed', 'prioritized')).toBe(0)
    })

    it('enqueues a file under EXPORT_DIR (absolute, or relative to it)', async () => {
      mkdirSync(join(exportDir, 'tune'), { recursive: true })
      writeFileSync(join(exportDir, 'tune', 'a.jsonl'), '{}\n')
      for (const file of [join(exportDir, 'tune', 'a.jsonl'), 'tune/a.jsonl']) {
        const res = await tune(file)
        expect(res.statusCode, file).toBe(202)
        const job = await sut.gateway.queues.tune.getJob(res.json().jobId)
        expect(job?.data.file).toMatch(/tune\/a\.jsonl$/)
        await job?.remove()
      }
    })
  })
})

describe('gateway with METRICS_PORT', () => {
  let sut: TestGateway
  beforeAll(async () => {
    sut = await buildTestGateway({ worker: false, env: { METRICS_PORT: '9464' } })
  })
  afterAll(async () => {
    await sut?.close()
  })

  it('serves no /metrics on the public port, and /metrics without a token on the metrics listener', async () => {
    expect(sut.config.metrics).toEqual({ port: 9464, host: '127.0.0.1' })
    expect((await sut.gateway.app.inject({ url: '/metrics', headers: auth })).statusCode).toBe(404)
    const metricsApp = buildMetricsApp(sut.gateway.metrics)
    try {
      const url = await metricsApp.listen({ port: 0, host: sut.config.metrics.host })
      expect(url).toContain('127.0.0.1')
      const res = await fetch(`${url}/metrics`)
      expect(res.status).toBe(200)
      expect(await res.text()).toContain('loopdm_queue_depth')
    } finally {
      await metricsApp.close()
    }
  })
})
