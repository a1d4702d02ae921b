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
  // Not in shared/config yet (owned elsewhere): `OPENAI_LOCAL_RETIRED_MODELS=false` → the legacy world.
  retiredModels: process.env.OPENAI_LOCAL_RETIRED_MODELS !== 'false',
  logger,
})
logger.info({ baseURL: server.baseURL, dataDir: localServer.dataDir }, 'openai-local listening')

onShutdown(closer([{ name: 'http', close: () => server.close() }], logger), {
  logger,
  supervisorPid: config.supervisorPid,
})
