/**
 * The webhook bench's fixed-rate load (bench/webhook.bench.ts), in a process of its own: POSTs
 * signed deliveries to `<url>/webhook` at an even `rate` per second for `seconds` (one every
 * 1000 / rate ms, open loop: the next delivery goes out on schedule whether or not the last was
 * answered, as Meta's servers do), each with a new mid, and prints `RESULT <json>` with the ack
 * latency percentiles: from the moment each delivery is written to the end of its response
 * (`p50`/`p99`), and from the moment it was due to go out (`dueP50`/`dueP99`, which also counts this
 * process's own timer running late: on a shared VM that is the machine's noise, not the server's).
 * With up to 64 sockets and ~1 ms acks the server never holds a send back at this rate, so the
 * write-time figure has no coordinated omission to hide.
 *
 * Why not autocannon's `overallRate`: it lets each connection send its per-second quota
 * back-to-back as fast as it can and then wait for the next second, so "1,000 req/s" there is a
 * burst at full speed for a fraction of each second, and a latency figure of queueing in the burst.
 *
 * argv: url, rate, seconds. env: BENCH_WEBHOOK_SECRET (the app secret the signatures use).
 */

import { randomBytes } from 'node:crypto'
import http from 'node:http'
import { percentile } from './harness.js'
import { signedDelivery } from './webhook-delivery.js'

const [url = '', rateArg = '1000', secondsArg = '4'] = process.argv.slice(2)
const rate = Number(rateArg)
const total = Math.round(rate * Number(secondsArg))
const secret = process.env.BENCH_WEBHOOK_SECRET
if (!url || !secret || !(rate > 0) || !(total > 0))
  throw new Error('usage: webhook-paced.ts <url> <rate> <seconds>, with BENCH_WEBHOOK_SECRET set')

const tag = `${process.pid}.${randomBytes(4).toString('hex')}`
const deliveries = Array.from({ length: total }, (_, i) => {
  const d = signedDelivery(i, `mid.paced.${tag}`, secret)
  return { ...d, len: Buffer.byteLength(d.body) }
})

const agent = new http.Agent({ keepAlive: true, maxSockets: 64 })
const target = new URL('/webhook', url)
const latencies: number[] = []
const fromDue: number[] = []
let failed = 0
let ok = 0
let lateMax = 0

await new Promise<void>((done) => {
  const interval = 1000 / rate
  const t0 = performance.now() + 20
  let sent = 0
  let answered = 0
  const finish = () => {
    if (++answered === total) done()
  }
  const send = (i: number, due: number) => {
    const d = deliveries[i] as { body: string; sig: string; len: number }
    const start = performance.now()
    const req = http.request(
      target,
      {
        method: 'POST',
        agent,
        headers: {
          'content-type': 'application/json',
          'content-length': d.len,
          'x-hub-signature-256': d.sig,
        },
      },
      (res) => {
        res.resume()
        res.once('end', () => {
          const end = performance.now()
          latencies.push(end - start)
          fromDue.push(end - due)
          if (res.statusCode === 200) ok++
          else failed++
          finish()
        })
      },
    )
    req.once('error', () => {
      failed++
      finish()
    })
    req.end(d.body)
  }
  const tick = () => {
    const now = performance.now()
    while (sent < total && t0 + sent * interval <= now) {
      const due = t0 + sent * interval
      lateMax = Math.max(lateMax, now - due)
      send(sent++, due)
    }
    if (sent < total) setTimeout(tick, Math.max(0, t0 + sent * interval - performance.now()))
  }
  setTimeout(tick, 20)
})
agent.destroy()
latencies.sort((a, b) => a - b)
fromDue.sort((a, b) => a - b)
const out = {
  sent: total,
  ok,
  failed,
  p50: percentile(latencies, 50),
  p99: percentile(latencies, 99),
  max: latencies[latencies.length - 1] ?? 0,
  dueP50: percentile(fromDue, 50),
  dueP99: percentile(fromDue, 99),
  lateMaxMs: lateMax,
}
process.stdout.write(`RESULT ${JSON.stringify(out)}\n`)
