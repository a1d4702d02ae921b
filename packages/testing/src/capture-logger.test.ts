import { describe, expect, it } from 'vitest'
import { captureLogger } from './capture-logger.js'

describe('captureLogger', () => {
  it('records each line at or above its level as a parsed object', () => {
    const sut = captureLogger({ name: 'probe' })
    sut.logger.debug('hidden')
    sut.logger.info({ count: 2 }, 'seen')
    expect(sut.lines).toHaveLength(1)
    expect(sut.lines[0]).toMatchObject({ msg: 'seen', count: 2, app: 'probe' })
  })
})
