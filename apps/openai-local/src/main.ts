import { loadConfigOrExit } from '@loopdm/platform/config'
import { closer, onShutdown } from '@loopdm/platform/lifecycle'
import { createLogger } from '@loopdm/platform/logger'
import { startOpenAILocal } from './server.js'

// Composition root of the offline OpenAI-compatible API.
const config = loadConfigOrExit()
const logger = createLogger({ level: config.log.level, file: config.log.file, name: 'openai-local' })
const { localServer } = config.openai
const server = await startOpenAILocal({
  port: localServer.port,
  host: localServer.host,
  dataDir: localServer.dataDir,
  ftStepMs: localServer.ftStepMs,
  retiredModels: localServer.retiredModels,
  logger,
})
logger.info({ baseURL: server.baseURL, dataDir: localServer.dataDir }, 'openai-local listening')

onShutdown(closer([{ name: 'http', close: () => server.close() }], logger), {
  logger,
  supervisorPid: config.supervisorPid,
})
