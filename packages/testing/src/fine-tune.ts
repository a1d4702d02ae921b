import OpenAI, { toFile } from 'openai'
import { waitFor } from './wait.js'

/** Shop Q&A pairs a fine-tuned openai-local model learns (its answers are recognisable). */
export const FT_PAIRS: Array<[string, string]> = [
  ['Do you still have the blue ceramic mug?', 'Yes! The blue ceramic mug is €18 and ships within 2 days.'],
  ['Can I pick up my order at the studio?', 'Of course — pickup at our studio is free, Tue–Sat 10–18.'],
  [
    'Is the speckled bowl dishwasher safe?',
    'The speckled bowl is dishwasher safe; hand washing keeps the glaze bright.',
  ],
  [
    'Do you offer pottery workshops for kids?',
    'We run kids’ wheel workshops every Saturday at 11, €25 per child.',
  ],
  ['What clay do you use for the planters?', 'Our planters are thrown in frost-proof stoneware clay.'],
  [
    'Can you make a custom name plate for my door?',
    'Custom name plates start at €35 and take about three weeks.',
  ],
  ['Are gift vouchers available?', 'Gift vouchers come in €20, €50 and €100 and never expire.'],
  ['Why is my teapot lid wobbly?', 'Send us a photo and we’ll swap the lid for a better fit.'],
  ['Do you sell seconds or B-stock?', 'Our B-stock shelf is 30% off and restocked every first Monday.'],
  ['Will the matte black vase hold water?', 'The matte black vase is glazed inside, so it holds water.'],
  [
    'Can I order twenty espresso cups for my café?',
    'Café orders of 20+ cups get 15% off; we’ll email a quote.',
  ],
  ['Is the studio wheelchair accessible?', 'Yes, the studio is step-free with an accessible restroom.'],
]

/** The system turn {@link fineTuneModel} puts before each pair unless told otherwise. */
export const FT_SYSTEM_PROMPT = 'You are the DM assistant of a small shop.'

export interface FineTuneOptions {
  /** Question/answer pairs to learn (openai-local needs ≥ 10). Default {@link FT_PAIRS}. */
  pairs?: Array<[string, string]>
  /** Model suffix (`ft:…:<suffix>:…`). Default 'gwtest'. */
  suffix?: string
  /** System turn of each example; null → none. Default {@link FT_SYSTEM_PROMPT}. */
  system?: string | null
  /** Uploaded file name. Default 'train.jsonl'. */
  fileName?: string
  /** How long to wait for the job to succeed, in ms. Default 20_000. */
  timeoutMs?: number
  /** Pause between job polls, in ms. Default 20. */
  intervalMs?: number
}

/**
 * Fine-tunes a real model on openai-local (start it with a small `ftStepMs`) and returns its id
 * (`ft:gpt-4.1-mini-2025-04-14:…`). `target` is openai-local's base URL or an SDK client for it.
 */
export async function fineTuneModel(target: string | OpenAI, opts: FineTuneOptions = {}): Promise<string> {
  const client =
    typeof target === 'string' ? new OpenAI({ apiKey: 'test', baseURL: target, maxRetries: 0 }) : target
  const system = opts.system === undefined ? FT_SYSTEM_PROMPT : opts.system
  const jsonl = (opts.pairs ?? FT_PAIRS)
    .map(([u, a]) =>
      JSON.stringify({
        messages: [
          ...(system === null ? [] : [{ role: 'system', content: system }]),
          { role: 'user', content: u },
          { role: 'assistant', content: a },
        ],
      }),
    )
    .join('\n')
  const file = await client.files.create({
    file: await toFile(Buffer.from(`${jsonl}\n`), opts.fileName ?? 'train.jsonl'),
    purpose: 'fine-tune',
  })
  const job = await client.fineTuning.jobs.create({
    training_file: file.id,
    model: 'gpt-4.1-mini-2025-04-14',
    suffix: opts.suffix ?? 'gwtest',
  })
  return waitFor(
    async () => {
      const j = await client.fineTuning.jobs.retrieve(job.id)
      if (j.status === 'failed' || j.status === 'cancelled')
        throw new Error(`fine-tune ${job.id} ${j.status}: ${j.error?.message}`)
      return j.status === 'succeeded' ? j.fine_tuned_model : null
    },
    {
      what: `fine-tune ${job.id} to succeed`,
      timeoutMs: opts.timeoutMs ?? 20_000,
      intervalMs: opts.intervalMs ?? 20,
    },
  )
}

/** Deletes a fine-tuned model at the provider (it answers 404 afterwards). */
export async function deleteModel(baseURL: string, model: string) {
  const client = new OpenAI({ apiKey: 'test', baseURL, maxRetries: 0 })
  await client.models.delete(model)
}
