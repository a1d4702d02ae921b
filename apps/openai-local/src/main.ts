import { loadConfigOrExit } from '@loopdm/shared/config'
import { closer, onShutdown } from '@loopdm/shared/lifecycle'
import { createLogger } from '@loopdm/shared/logger'
import Fastify from 'fastify'

// Composition root of the offline OpenAI-compatible API.
const config = loadConfigOrExit()
const logger = createLogger({ level: config.log.level, file: config.log.file, name: 'openai-local' })
const app = Fastify({ loggerInstance: logger })
app.get('/healthz', async () => ({ ok: true }))
app.get('/v1/models', async () => ({ object: 'list', data: [] }))
await app.listen({ port: config.openai.localServer.port, host: '127.0.0.1' })

onShutdown(closer([{ name: 'http', close: () => app.close() }], logger), { logger })
