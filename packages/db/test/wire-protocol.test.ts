import net from 'node:net'
import { type EmbeddedPostgres, embeddedUrl, startEmbeddedPostgres } from '@loopdm/db/embedded'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

/** Faults injected through real sockets into the embedded wire server (issue 17). */

const int32 = (n: number) => {
  const b = Buffer.alloc(4)
  b.writeInt32BE(n, 0)
  return b
}

function startupPacket(): Buffer {
  const params = Buffer.from('user\0postgres\0database\0postgres\0\0')
  return Buffer.concat([int32(8 + params.length), int32(196608), params])
}

/** Opens a raw socket, writes `bytes`, and collects everything until the server closes it. */
function rawExchange(
  port: number,
  bytes: Buffer[],
  timeoutMs = 5000,
): Promise<{ data: Buffer; closed: boolean }> {
  return new Promise((resolve) => {
    const s = net.connect({ port, host: '127.0.0.1' })
    const got: Buffer[] = []
    const timer = setTimeout(() => {
      s.destroy()
      resolve({ data: Buffer.concat(got), closed: false })
    }, timeoutMs)
    s.on('data', (d) => got.push(d))
    s.on('error', () => {})
    s.on('close', () => {
      clearTimeout(timer)
      resolve({ data: Buffer.concat(got), closed: true })
    })
    s.on('connect', () => {
      for (const b of bytes) s.write(b)
    })
  })
}

/** SQLSTATE of the first ErrorResponse in a backend byte stream. */
function sqlState(data: Buffer): string | undefined {
  let i = 0
  while (i + 5 <= data.length) {
    const len = data.readInt32BE(i + 1)
    if (data[i] === 0x45) {
      const fields = data.subarray(i + 5, i + 1 + len).toString('utf8')
      return /(?:^|\0)C([0-9A-Z]{5})\0/.exec(fields)?.[1]
    }
    if (len < 4) return undefined
    i += 1 + len
  }
  return undefined
}

/** Extended-protocol frontend messages (Postgres docs, "Message Formats"), text parameters. */
const frame = (type: string, body: Buffer) => Buffer.concat([Buffer.from(type), int32(body.length + 4), body])
const int16 = (n: number) => Buffer.from([(n >> 8) & 0xff, n & 0xff])
const cstr = (s: string) => Buffer.from(`${s}\0`)
const parseMsg = (sql: string) => frame('P', Buffer.concat([cstr(''), cstr(sql), int16(0)]))
const bindMsg = (params: string[]) =>
  frame(
    'B',
    Buffer.concat([
      cstr(''),
      cstr(''),
      int16(0),
      int16(params.length),
      ...params.flatMap((p) => [int32(Buffer.byteLength(p)), Buffer.from(p)]),
      int16(0),
    ]),
  )
const executeMsg = () => frame('E', Buffer.concat([cstr(''), int32(0)]))
const syncMsg = () => frame('S', Buffer.alloc(0))
const query = (sql: string, params: string[] = []) => [
  parseMsg(sql),
  bindMsg(params),
  executeMsg(),
  syncMsg(),
]

/** The backend messages in `data`, in order: DataRow as `row:<first column>`, errors as `error:<SQLSTATE>`. */
function backendTrace(data: Buffer): string[] {
  const out: string[] = []
  let i = 0
  while (i + 5 <= data.length) {
    const type = String.fromCharCode(data[i] as number)
    const len = data.readInt32BE(i + 1)
    const body = data.subarray(i + 5, i + 1 + len)
    if (type === 'D') out.push(`row:${body.subarray(6, 6 + body.readInt32BE(2)).toString('utf8')}`)
    else if (type === 'E') out.push(`error:${sqlState(data.subarray(i))}`)
    else if (type === 'Z') out.push(`ready:${String.fromCharCode(body[0] as number)}`)
    else out.push(type)
    i += 1 + len
  }
  return out
}

/**
 * Writes `bytes` in ONE write on an authenticated connection (pg.Client only did the startup)
 * and collects the server's bytes until `readies` ReadyForQuery messages came.
 */
async function pipelined(url: string, bytes: Buffer, readies: number): Promise<string[]> {
  const c = await connect(url)
  const stream = (c as unknown as { connection: { stream: net.Socket } }).connection.stream
  stream.removeAllListeners('data')
  const got: Buffer[] = []
  const done = new Promise<void>((resolve) =>
    stream.on('data', (d: Buffer) => {
      got.push(d)
      if (backendTrace(Buffer.concat(got)).filter((m) => m.startsWith('ready:')).length >= readies) resolve()
    }),
  )
  stream.write(bytes)
  await done
  stream.destroy()
  return backendTrace(Buffer.concat(got))
}

async function connect(url: string): Promise<pg.Client> {
  const c = new pg.Client({ connectionString: url })
  c.on('error', () => {})
  await c.connect()
  return c
}

describe('the embedded wire server', () => {
  let server: EmbeddedPostgres
  let sut: pg.Client
  beforeAll(async () => {
    server = await startEmbeddedPostgres({ port: 0 })
    sut = await connect(server.url)
    await sut.query('create table proto_t (id int primary key, b text)')
  }, 60_000)
  afterAll(async () => {
    await sut.end()
    await server.close()
  })

  const healthy = async () => {
    const c = await connect(server.url)
    const r = await c.query('select 41 + 1 as n')
    await c.end()
    expect(r.rows[0].n).toBe(42)
  }

  describe('when a client authenticates', () => {
    it('accepts the right password (SCRAM-SHA-256)', async () => {
      expect(server.password).toMatch(/^[0-9a-f]{48}$/)
      expect(server.url).toContain(`:${server.password}@`)
      await healthy()
    })

    it('answers a wrong password with 28P01 and closes the connection', async () => {
      const c = new pg.Client({ connectionString: embeddedUrl(server.port, '127.0.0.1', 'wrong') })
      const err = await c.connect().catch((e: unknown) => e as pg.DatabaseError)
      expect(err).toMatchObject({ code: '28P01' })
      await c.end().catch(() => {})
    })

    it('refuses a client without a password', async () => {
      const c = new pg.Client({
        host: '127.0.0.1',
        port: server.port,
        user: 'postgres',
        database: 'postgres',
      })
      const err = await c.connect().catch((e: unknown) => e as Error)
      expect(err).toBeInstanceOf(Error)
      await c.end().catch(() => {})
      // A raw client answering the SASL challenge with an empty password message.
      const r = await rawExchange(server.port, [startupPacket(), Buffer.from([0x70, 0, 0, 0, 5, 0])])
      expect(sqlState(r.data.subarray(r.data.indexOf(0x45)))).toBe('28P01')
      expect(r.closed).toBe(true)
    })
  })

  describe('when a length field is out of range', () => {
    it.each([
      ['a startup length of -1', [int32(-1), int32(196608)]],
      ['a startup length of 3', [int32(3), int32(196608)]],
      ['a startup length of 2 GiB', [int32(0x7fffffff), int32(196608)]],
    ])('rejects %s with 08P01, closes, and keeps serving others', async (_name, bytes) => {
      const r = await rawExchange(server.port, bytes)
      expect(sqlState(r.data)).toBe('08P01')
      expect(r.closed).toBe(true)
      await healthy()
    })

    it.each([
      ['-1', -1],
      ['3', 3],
      ['above 1 GiB', 1024 * 1024 * 1024 + 1],
    ])('rejects a message length of %s after login with 08P01 and keeps serving others', async (_n, len) => {
      const c = await connect(server.url)
      const errored = new Promise<Error>((resolve) => c.once('error', resolve))
      const ended = new Promise<void>((resolve) => c.once('end', () => resolve()))
      const stream = (c as unknown as { connection: { stream: net.Socket } }).connection.stream
      stream.write(Buffer.concat([Buffer.from([0x51]), int32(len)]))
      expect(await errored).toMatchObject({ code: '08P01' })
      await ended
      await healthy()
    })
  })

  describe('when a message is large', () => {
    it('round-trips a 20 MB parameter', async () => {
      const big = 'abcdefghij'.repeat(2_000_000)
      const r = await sut.query('select length($1::text) as n, $1::text as t', [big])
      expect(r.rows[0].n).toBe(big.length)
      expect(r.rows[0].t === big).toBe(true)
    }, 60_000)
  })

  describe('when a client runs COPY', () => {
    it('refuses COPY FROM STDIN with 0A000 while another client keeps querying', async () => {
      const other = await connect(server.url)
      const copying = sut.query('copy proto_t from stdin').catch((e: unknown) => e)
      const queries = (async () => {
        const out: pg.QueryResult[] = []
        for (let i = 0; i < 20; i++)
          out.push(await other.query('insert into proto_t values ($1, $2) returning id', [i, `r${i}`]))
        return out
      })()
      expect(await copying).toMatchObject({ code: '0A000' })
      expect((await queries).map((r) => r.rows[0].id)).toEqual(Array.from({ length: 20 }, (_, i) => i))
      // Both connections stay usable, and the refused COPY touched nothing.
      expect((await sut.query('select count(*)::int as n from proto_t')).rows[0].n).toBe(20)
      await other.end()
    })

    it('serves COPY TO STDOUT whole while another client writes', async () => {
      const other = await connect(server.url)
      const copying = sut.query("copy (select g, repeat('x', 50) from generate_series(1, 20000) g) to stdout")
      const writes = (async () => {
        for (let i = 0; i < 20; i++) await other.query('update proto_t set b = $1 where id = $2', ['w', i])
      })()
      const [copied] = await Promise.all([copying, writes])
      expect(copied.command).toBe('COPY')
      expect(copied.rowCount).toBe(20000)
      await other.end()
    }, 30_000)
  })

  describe('when a client pipelines several extended-protocol queries in one write', () => {
    it('answers each in order, and an error skips only to its own Sync', async () => {
      const trace = await pipelined(
        server.url,
        Buffer.concat([
          ...query('select $1::int + 1', ['41']),
          ...query('select 1 / $1::int', ['0']),
          ...query("select 'after'"),
        ]),
        3,
      )
      // 1 / 0 fails while the Bind plans it: no BindComplete, the Execute is skipped, the Sync answers.
      expect(trace).toEqual([
        ...['1', '2', 'row:42', 'C', 'ready:I'],
        ...['1', 'error:22012', 'ready:I'],
        ...['1', '2', 'row:after', 'C', 'ready:I'],
      ])
      await healthy()
    })

    it('refuses a COPY FROM STDIN in the middle with 0A000 and still answers what came before and after it', async () => {
      const trace = await pipelined(
        server.url,
        Buffer.concat([...query('select 7'), ...query('copy proto_t from stdin'), ...query('select 8')]),
        3,
      )
      expect(trace).toEqual([
        ...['1', '2', 'row:7', 'C', 'ready:I'],
        ...['error:0A000', 'ready:I'],
        ...['1', '2', 'row:8', 'C', 'ready:I'],
      ])
      // The COPY's Parse after another statement's Execute, before their Sync: that one's answer first.
      const [p7, b7, e7] = query('select 7')
      const unsynced = await pipelined(
        server.url,
        Buffer.concat([p7, b7, e7, parseMsg('copy proto_t from stdin'), syncMsg()] as Buffer[]),
        1,
      )
      expect(unsynced).toEqual(['1', '2', 'row:7', 'C', 'error:0A000', 'ready:I'])
      await healthy()
    })
  })

  describe('when a client sends a CancelRequest', () => {
    it('hands out a real key per connection, accepts the cancel, closes it and stays healthy', async () => {
      const keyed = sut as unknown as { processID: number; secretKey: number }
      const other = (await connect(server.url)) as unknown as pg.Client & {
        processID: number
        secretKey: number
      }
      expect(keyed.processID).not.toBe(other.processID)
      expect(keyed.secretKey).not.toBe(42)
      expect(keyed.secretKey).not.toBe(other.secretKey)
      const running = other.query('select count(*)::int as n from generate_series(1, 200000)')
      const cancel = Buffer.concat([
        int32(16),
        int32(80877102),
        int32(other.processID),
        int32(other.secretKey),
      ])
      const r = await rawExchange(server.port, [cancel])
      expect(r.closed).toBe(true)
      expect(r.data.length).toBe(0)
      // Cancellation is not supported: the statement completes.
      expect((await running).rows[0].n).toBe(200000)
      await other.end()
      await healthy()
    })
  })
  describe('when connections use named prepared statements', () => {
    const named = (name: string, text: string, values: unknown[] = []) => ({ name, text, values })
    const engineStatements = async () =>
      (await sut.query<{ name: string }>('select name from pg_prepared_statements')).rows.map((r) => r.name)

    it('keeps each connection’s statements apart under the same name, and closes them when it leaves', async () => {
      const [a, b] = await Promise.all([connect(server.url), connect(server.url)])
      // Same name, different text on each connection: each runs its own, again and again.
      for (let i = 0; i < 3; i++) {
        const [ra, rb] = await Promise.all([
          a.query(named('hot', 'select $1::int + 1 as n', [i])),
          b.query(named('hot', "select $1::text || '!' as n", [`b${i}`])),
        ])
        expect(ra.rows[0].n).toBe(i + 1)
        expect(rb.rows[0].n).toBe(`b${i}!`)
      }
      // A name too long to prefix within Postgres's 63 bytes still works and stays distinct.
      const long = `x${'y'.repeat(62)}`
      expect((await a.query(named(long, 'select 1 as n'))).rows[0].n).toBe(1)
      expect((await b.query(named(long, 'select 2 as n'))).rows[0].n).toBe(2)
      const before = await engineStatements()
      expect(before.filter((n) => n.endsWith('_hot'))).toHaveLength(2)
      await a.end()
      await b.end()
      // Closing runs after the socket is gone: wait until both connections' names are released.
      await expect
        .poll(engineStatements, { timeout: 5000 })
        .toEqual(before.filter((n) => !n.endsWith('_hot') && !n.includes('_#')))
      await healthy()
    })

    it('does not keep a statement whose parse failed: it runs once the object it names exists', async () => {
      const c = await connect(server.url)
      try {
        const call = named('late', 'select proto_late_fn() as n')
        await expect(c.query(call)).rejects.toMatchObject({ code: '42883' })
        await sut.query('create function proto_late_fn() returns int language sql as $$ select 7 $$')
        expect((await c.query(call)).rows[0].n).toBe(7)
        // Dropped again: the kept statement is re-planned and names the missing function (not 26000).
        await sut.query('drop function proto_late_fn()')
        await expect(c.query(call)).rejects.toMatchObject({ code: '42883' })
      } finally {
        await c.end()
      }
    })
  })
})
