import { afterAll, afterEach, beforeAll } from 'vitest'
import { buildTestGateway, type TestGateway, type TestGatewayOptions } from './test-gateway.js'

/**
 * One gateway for the enclosing `describe`: built before its tests (handed to `use`), closed
 * after them, and its injected provider and Graph faults reset after every test, so a failed test
 * leaves no fault behind for the next one.
 */
export function gatewayForSuite(opts: TestGatewayOptions, use: (sut: TestGateway) => void): void {
  let sut: TestGateway | undefined
  beforeAll(async () => {
    sut = await buildTestGateway(opts)
    use(sut)
  })
  afterAll(async () => {
    await sut?.close()
  })
  afterEach(() => {
    sut?.openai.faults.reset()
    sut?.graph.reset()
  })
}
