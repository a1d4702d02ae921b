import type { TunerDeps } from '@loopdm/tuner/jobs/deps'
import { runPoll } from '@loopdm/tuner/jobs/poll.processor'
import { exemplarsLearner } from '@loopdm/tuner/learners/exemplars.learner'
import { fineTuneLearner } from '@loopdm/tuner/learners/fine-tune.learner'
import { say } from '../lib/cli.js'

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** What the demo's learning step produced: the candidate policy's registry key and its story. */
export interface LearnedCandidate {
  learner: 'exemplars' | 'fine-tune'
  /** Registry key of the candidate policy (`exemplars:<hash12>` or the `ft:` model). */
  candidate: string
  summary: string
}

/**
 * The demo's learning step with either learner: the exemplar learner builds an exemplar set from
 * the export (embedded into pgvector, in one transaction); the fine-tune learner uploads the file,
 * fine-tunes on openai-local and polls until the `ft:` model exists. Both leave a candidate policy.
 */
export async function learn(learner: 'exemplars' | 'fine-tune', tuner: TunerDeps): Promise<LearnedCandidate> {
  if (learner === 'exemplars') {
    const r = await exemplarsLearner.tune({ trigger: 'demo' }, tuner)
    if (r.learner !== 'exemplars' || !r.policy || !r.set)
      throw new Error(`exemplar learner built nothing (${r.outcome})`)
    say(
      `  exemplar set ${r.set.id}: ${r.set.examples} demonstrations (${r.tokens} tokens, ${r.skipped} lines skipped), content hash ${r.contentHash.slice(0, 12)} → candidate policy ${r.policy.model} (serves ${r.policy.servingModel})`,
    )
    return {
      learner,
      candidate: r.policy.model,
      summary: `${r.set.examples} exemplars, ${r.tokens} tokens, embedding only (no training job)`,
    }
  }
  const tune = await fineTuneLearner.tune({ trigger: 'demo' }, tuner)
  if (tune.learner !== 'fine-tune') throw new Error('unexpected learner result')
  const jobId = tune.finetune?.providerJobId
  if (!jobId) throw new Error(`tune did not start a job: ${tune.refusal ?? tune.outcome}`)
  say(
    `  ${tune.report.examples} examples, ${tune.report.tokens} tokens, estimate $${tune.estimateUsd.toFixed(4)} ($${tune.pricePer1k}/1K at ${tune.provider}) → job ${jobId}`,
  )
  let poll = await runPoll({ finetuneJobId: jobId }, tuner)
  while (!poll.done) {
    await sleep(200)
    poll = await runPoll({ finetuneJobId: jobId }, tuner)
  }
  if (poll.status !== 'succeeded' || !poll.fineTunedModel)
    throw new Error(`fine-tune ${poll.status}: ${poll.error}`)
  say(
    `  succeeded: ${poll.fineTunedModel} (trained tokens ${poll.trainedTokens ?? '?'}) — registered as a candidate`,
  )
  return {
    learner,
    candidate: poll.fineTunedModel,
    summary: `${tune.report.tokens} training tokens (trained ${poll.trainedTokens ?? '?'}), cost estimate $${tune.estimateUsd.toFixed(4)}`,
  }
}
