/** The LLM judge lives in @loopdm/models (the gateway's shadow scoring uses it too). */
export { JUDGE_RUBRIC, judgeReply } from '@loopdm/models/judge'
