#!/usr/bin/env node
// A tiny "trainer" for TRAINER_COMMAND (tests, the demo, a first look at FT_PROVIDER=vllm): it
// "trains" by copying the training file into `<output-dir>/train.jsonl`, which openai-local's vLLM
// emulation loads as an adapter (nearest neighbour over its pairs). No weights, no GPU.
// Real training: docs/self-hosted-training.md. Usage:
//   node scripts/trainers/copy-trainer.mjs --train-file F --base-model M --output-dir D --epochs N
// COPY_TRAINER_DELAY_MS (default 0) makes it take that long, for deadline/cancel/restart tests;
// COPY_TRAINER_EXIT (default 0) makes it fail with that exit code.
import { copyFileSync, mkdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'

const args = {}
for (let i = 2; i < process.argv.length; i += 2)
  args[process.argv[i].replace(/^--/, '')] = process.argv[i + 1]
for (const k of ['train-file', 'base-model', 'output-dir', 'epochs']) {
  if (!args[k]) {
    console.error(`copy-trainer: missing --${k}`)
    process.exit(2)
  }
}
const lines = readFileSync(args['train-file'], 'utf8')
  .split('\n')
  .filter((l) => l.trim() !== '')
console.log(`copy-trainer: base ${args['base-model']}, ${lines.length} examples, ${args.epochs} epoch(s)`)
const delay = Number(process.env.COPY_TRAINER_DELAY_MS ?? 0)
if (delay > 0) await new Promise((r) => setTimeout(r, delay))
const exit = Number(process.env.COPY_TRAINER_EXIT ?? 0)
if (exit !== 0) {
  console.error(`copy-trainer: failing with exit code ${exit} (COPY_TRAINER_EXIT)`)
  process.exit(exit)
}
mkdirSync(args['output-dir'], { recursive: true })
copyFileSync(args['train-file'], join(args['output-dir'], 'train.jsonl'))
// Rough token count (≈ 4 characters a token) × epochs: what a real trainer reports.
const chars = lines.reduce((n, l) => n + l.length, 0)
console.log(`copy-trainer: trained_tokens=${Math.ceil(chars / 4) * Number(args.epochs)}`)
console.log(`copy-trainer: adapter written to ${join(args['output-dir'], 'train.jsonl')}`)
