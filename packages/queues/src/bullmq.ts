import type { Config } from '@loopdm/platform/config'
import type { Logger } from '@loopdm/platform/logger'
import { createRedis, type Redis } from '@loopdm/redis/client'
import {
  type ConnectionOptions,
  type Job,
  Queue,
  type QueueOptions,
  Worker,
  type WorkerOptions,
} from 'bullmq'

/** A producer Queue on its own fail-fast connection, with an error listener. */
export function createQueue(
  name: string,
  opts: { config: Config; logger?: Logger; connection?: Redis; queueOptions?: Partial<QueueOptions> },
): Queue {
  const connection =
    opts.connection ?? createRedis({ url: opts.config.redis.url, role: 'producer', logger: opts.logger })
  const queue = new Queue(name, {
    connection: connection as unknown as ConnectionOptions,
    prefix: opts.config.redis.prefix,
    ...opts.queueOptions,
  })
  queue.on('error', (err) => opts.logger?.warn({ err: err.message, queue: name }, 'queue error'))
  return queue
}

/**
 * A Worker bound to a plain processor function. The worker gets its own blocking connection
 * (maxRetriesPerRequest null) and logs failures with the job id, never the payload.
 */
export function createWorker<T = unknown, R = unknown>(
  name: string,
  processor: (job: Job<T, R>, token?: string) => Promise<R>,
  opts: { config: Config; logger: Logger; workerOptions?: Partial<WorkerOptions> },
): Worker<T, R> {
  const connection = createRedis({ url: opts.config.redis.url, role: 'worker', logger: opts.logger })
  const worker = new Worker<T, R>(name, processor, {
    connection: connection as unknown as ConnectionOptions,
    prefix: opts.config.redis.prefix,
    concurrency: 1,
    ...opts.workerOptions,
  })
  worker.on('error', (err) => opts.logger.warn({ err: err.message, queue: name }, 'worker error'))
  worker.on('failed', (job, err) =>
    opts.logger.warn(
      { queue: name, jobId: job?.id, attempts: job?.attemptsMade, err: err.message },
      'job failed',
    ),
  )
  // Closing the worker does not close a connection we passed in.
  worker.on('closed', () => connection.disconnect())
  return worker
}
