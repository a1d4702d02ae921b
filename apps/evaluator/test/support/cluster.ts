import type OpenAI from 'openai'
import { toFile } from 'openai'

export {
  ADMIN_TOKEN,
  APP_SECRET,
  freePort,
  type GatewayProc,
  IG_ACCOUNT,
  type LogEntry,
  sendDm,
  spawnGateway,
  startPrivateRedis,
} from '../../../../scripts/lib/gateway-proc.js'

/** Fine-tunes a model at openai-local on `pairs` (≥ 10) and returns its id once it succeeded. */
export async function trainModel(
  sdk: OpenAI,
  suffix: string,
  pairs: Array<[string, string]>,
): Promise<string> {
  const jsonl = pairs
    .map(([u, a]) =>
      JSON.stringify({
        messages: [
          { role: 'user', content: u },
          { role: 'assistant', content: a },
        ],
      }),
    )
    .join('\n')
  const file = await sdk.files.create({
    file: await toFile(Buffer.from(jsonl), `${suffix}.jsonl`),
    purpose: 'fine-tune',
  })
  let job = await sdk.fineTuning.jobs.create({ training_file: file.id, model: 'gpt-3.5-turbo-0125', suffix })
  const until = Date.now() + 60_000
  while (job.status !== 'succeeded') {
    if (job.status === 'failed' || job.status === 'cancelled' || Date.now() > until)
      throw new Error(`fine-tune ${job.id} ended ${job.status}: ${JSON.stringify(job.error)}`)
    await new Promise((r) => setTimeout(r, 50))
    job = await sdk.fineTuning.jobs.retrieve(job.id)
  }
  return job.fine_tuned_model as string
}
