import type { Pool } from '@loopdm/db/pool'
import type { Config } from '@loopdm/platform/config'
import { createAiClient } from '@loopdm/platform/openai'
import { uniqueId } from '@loopdm/testing/fixtures'
import { createMemory, type Memory, type MemoryOptions } from '../../src/services/memory.service.js'

/**
 * A suite's `store(sut, igUserId, role, content, minutesAgo)`: stores a turn as the reply worker
 * does (a `conversation_messages` row `minutesAgo` old), then hands it to memory — or not, when
 * `sut` is undefined (a turn stored while memory was down). `pool` is read at each call (suites
 * open theirs in beforeAll).
 */
export const turnStore =
  (pool: () => Pool) =>
  async (
    sut: Pick<Memory, 'afterStore'> | undefined,
    igUserId: string,
    role: 'user' | 'assistant',
    content: string,
    minutesAgo = 0,
  ): Promise<number> => {
    const r = await pool().query<{ id: number }>(
      `insert into conversation_messages (ig_user_id, role, content, ig_message_id, created_at)
     values ($1, $2, $3, $4, now() - make_interval(mins => $5)) returning id`,
      [igUserId, role, content, uniqueId('mid'), minutesAgo],
    )
    const id = Number(r.rows[0]?.id)
    sut?.afterStore({ id, igUserId, role, content })
    return id
  }

/**
 * Memory as the suites test it: the real client on `config`'s OPENAI_BASE_URL, no back-fill timer,
 * a 20 ms batcher flush and a 50 ms retry backoff; `opts` override any of it.
 */
export function testMemory(db: Pool, config: Config, opts: Partial<MemoryOptions> = {}): Memory {
  return createMemory({
    db,
    ai: createAiClient({ config }),
    config,
    backfillIntervalMs: 0,
    flushMs: 20,
    backoffBaseMs: 50,
    ...opts,
  })
}
