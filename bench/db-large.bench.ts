/**
 * Large messages through the embedded server: throughput of a 16 MB Bind vs a 1 MB one (the ratio
 * is ~1 when reassembly is linear; it fell with size while the reader concatenated per chunk), and
 * the reassembly alone — chunk list vs the old Buffer.concat per TCP chunk.
 */
import { startEmbeddedPostgres } from '@loopdm/db/embedded'
import { ChunkReader } from '@loopdm/db/wire-reader'
import pg from 'pg'
import type { BenchRow } from './harness.js'

const MB = 1024 * 1024

async function throughput(client: pg.Client, bytes: number, rounds: number): Promise<number> {
  const payload = 'x'.repeat(bytes)
  await client.query('select length($1::text) as n', [payload])
  const t = performance.now()
  for (let i = 0; i < rounds; i++) await client.query('select length($1::text) as n', [payload])
  return (bytes * rounds) / MB / ((performance.now() - t) / 1000)
}

function reassemble(total: number, chunk: number, linear: boolean): number {
  const piece = Buffer.alloc(chunk, 1)
  const t = performance.now()
  if (linear) {
    const r = new ChunkReader()
    for (let n = 0; n < total; n += chunk) r.push(piece)
    r.take(r.length)
  } else {
    let buf = Buffer.alloc(0)
    for (let n = 0; n < total; n += chunk) buf = buf.length === 0 ? piece : Buffer.concat([buf, piece])
  }
  return performance.now() - t
}

export default async function dbLargeBench(): Promise<BenchRow[]> {
  const embedded = await startEmbeddedPostgres({ port: 0 })
  const client = new pg.Client({ connectionString: embedded.url })
  await client.connect()
  const small = await throughput(client, MB, 16)
  const large = await throughput(client, 16 * MB, 2)
  await client.end()
  await embedded.close()
  return [
    {
      name: 'wire 16 MB vs 1 MB message throughput',
      value: large,
      baseline: small,
      unit: 'MB/s',
      better: 'higher',
      target: 'ratio ≥ 0.5 (linear)',
    },
    {
      name: 'reassemble 16 MB from 64 KB chunks: list vs concat',
      value: reassemble(16 * MB, 64 * 1024, true),
      baseline: reassemble(16 * MB, 64 * 1024, false),
      unit: 'ms',
      better: 'lower',
    },
  ]
}
