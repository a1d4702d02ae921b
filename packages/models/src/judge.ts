import { completionLimit } from '@loopdm/platform/capabilities'
import type { AiClient } from '@loopdm/platform/openai'

/** The LLM judge's rubric (used only when EVAL_JUDGE_MODEL is set): the evaluator and the shadow scoring. */
export const JUDGE_RUBRIC = `You grade replies of a small shop's Instagram DM assistant.
Compare the REPLY with the IDEAL reply for the customer's MESSAGE and give one integer score:
5 = correct, complete and friendly; every fact of the ideal is present and nothing is invented.
4 = correct and helpful, a minor fact or nicety missing.
3 = partly helpful: generic, or one important fact missing.
2 = unhelpful or evasive.
1 = wrong facts, invented policy, rude, or leaks personal data.
Answer with JSON only: {"score": <1-5>}`

/**
 * Scores one reply in [0, 1] ((score − 1) / 4); `score` is null when the judge's answer is
 * unusable. A judge call that fails (error, timeout, refused request) returns `error`: the gate
 * then reports "judge unavailable" instead of quietly scoring without the judge.
 */
export async function judgeReply(
  ai: AiClient,
  judgeModel: string,
  item: { prompt: string; ideal: string; reply: string },
  /** The cost ledger's purpose; default `evaluate-judge` (the shadow passes `shadow-judge`). */
  purpose = 'evaluate-judge',
): Promise<{ score: number | null; error: string | null }> {
  try {
    const res = await ai.chat(
      {
        model: judgeModel,
        ...completionLimit(judgeModel, 20, 0),
        messages: [
          { role: 'system', content: JUDGE_RUBRIC },
          {
            role: 'user',
            content: `MESSAGE:\n${item.prompt}\n\nIDEAL:\n${item.ideal}\n\nREPLY:\n${item.reply}`,
          },
        ],
      },
      { purpose, timeoutMs: 60_000, maxRetries: 2 },
    )
    const text = res.choices[0]?.message?.content ?? ''
    const m = /"score"\s*:\s*([1-5])/.exec(text) ?? /\b([1-5])\b/.exec(text)
    return { score: m ? (Number(m[1]) - 1) / 4 : null, error: null }
  } catch (err) {
    return { score: null, error: (err as Error).message.slice(0, 300) }
  }
}
