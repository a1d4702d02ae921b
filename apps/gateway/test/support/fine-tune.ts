import OpenAI, { toFile } from 'openai'

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

/**
 * Fine-tunes a real model on openai-local (start it with a small `ftStepMs`) and returns its id
 * (`ft:gpt-3.5-turbo-0125:…`).
 */
export async function fineTuneModel(baseURL: string, opts: { suffix?: string; timeoutMs?: number } = {}) {
  const client = new OpenAI({ apiKey: 'test', baseURL, maxRetries: 0 })
  const jsonl = FT_PAIRS.map(([u, a]) =>
    JSON.stringify({
      messages: [
        { role: 'system', content: 'You are the DM assistant of a small shop.' },
        { role: 'user', content: u },
        { role: 'assistant', content: a },
      ],
    }),
  ).join('\n')
  const file = await client.files.create({
    file: await toFile(Buffer.from(`${jsonl}\n`), 'train.jsonl'),
    purpose: 'fine-tune',
  })
  const job = await client.fineTuning.jobs.create({
    training_file: file.id,
    model: 'gpt-3.5-turbo-0125',
    suffix: opts.suffix ?? 'gwtest',
  })
  const until = Date.now() + (opts.timeoutMs ?? 20_000)
  for (;;) {
    const j = await client.fineTuning.jobs.retrieve(job.id)
    if (j.status === 'succeeded' && j.fine_tuned_model) return j.fine_tuned_model
    if (j.status === 'failed' || j.status === 'cancelled')
      throw new Error(`fine-tune ${j.status}: ${j.error?.message}`)
    if (Date.now() > until) throw new Error(`fine-tune still ${j.status}`)
    await new Promise((r) => setTimeout(r, 20))
  }
}

/** Deletes a fine-tuned model at the provider (it answers 404 afterwards). */
export async function deleteModel(baseURL: string, model: string) {
  const client = new OpenAI({ apiKey: 'test', baseURL, maxRetries: 0 })
  await client.models.delete(model)
}
