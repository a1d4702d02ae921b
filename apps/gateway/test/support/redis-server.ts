/** A private `redis-server` a test may stop and start (shared with the hot-swap tests and demo). */
export {
  type PrivateRedis as TestRedis,
  startPrivateRedis as startTestRedis,
} from '@loopdm/redis/private-redis'
