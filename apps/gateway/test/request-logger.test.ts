import { Writable } from 'node:stream'
import { createLogger } from '@loopdm/platform/logger'
import Fastify, { type FastifyBaseLogger } from 'fastify'
import { afterAll, describe, expect, it, vi } from 'vitest'
import { RequestLogger } from '../src/request-logger.js'

describe("the request logger (Fastify's req.log)", () => {
  const lines: Array<Record<string, unknown>> = []
  const destination = new Writable({
    write(chunk, _enc, done) {
      for (const l of String(chunk).split('\n')) if (l) lines.push(JSON.parse(l))
      done()
    },
  })
  const logger = createLogger({ level: 'info', destination })
  const child = vi.spyOn(logger, 'child')
  const app = Fastify({
    loggerInstance: logger as unknown as FastifyBaseLogger,
    disableRequestLogging: true,
    childLoggerFactory: (parent, bindings, opts) => new RequestLogger(parent, bindings, opts),
  })
  app.get('/quiet', async () => 'ok')
  app.get('/loud', async (req) => {
    req.log.warn({ token: 'secret-value', n: 1 }, 'something happened')
    req.log.info('and again')
    return req.id
  })
  app.get('/warn-only', { logLevel: 'warn' }, async (req) => {
    const before = req.log.level
    req.log.info('dropped on this route')
    req.log.warn('kept')
    return `${before} ${req.log.level}`
  })
  afterAll(() => app.close())

  it('makes no pino child for a request that logs nothing', async () => {
    child.mockClear()
    expect((await app.inject({ url: '/quiet' })).statusCode).toBe(200)
    expect(child).not.toHaveBeenCalled()
  })

  it("binds the request's id once, with redaction, when the request logs", async () => {
    child.mockClear()
    lines.length = 0
    const res = await app.inject({ url: '/loud' })
    expect(child).toHaveBeenCalledTimes(1)
    const [warn, info] = lines
    expect(warn).toMatchObject({ level: 40, reqId: res.body, n: 1, msg: 'something happened' })
    expect(warn?.token).toBe('[redacted]')
    expect(info).toMatchObject({ level: 30, reqId: res.body, msg: 'and again' })
  })

  it("keeps a route's own log level", async () => {
    lines.length = 0
    const res = await app.inject({ url: '/warn-only' })
    expect(res.body).toBe('warn warn')
    expect(lines.map((l) => l.msg)).toEqual(['kept'])
  })
})
