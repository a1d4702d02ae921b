import { describe, expect, it } from 'vitest'
import { REDACTION_CORPUS } from '../../../packages/training-data/test/redaction.corpus.js'
import { scoreRedaction } from '../../../packages/training-data/test/redaction.score.js'

// The same corpus and scorer as packages/training-data/test/redaction.test.ts, so `npm run test:export`
// shows the acceptance figures too.
describe('PII redaction used by the export', () => {
  it('scores recall ≥ 0.98 and precision ≥ 0.97 on the labelled corpus', () => {
    const sut = scoreRedaction(REDACTION_CORPUS)
    console.log(
      `PII corpus: ${sut.cases} cases, ${sut.tp + sut.fn} PII spans: recall ${sut.recall.toFixed(3)}, precision ${sut.precision.toFixed(3)}`,
    )
    expect(sut.cases).toBeGreaterThanOrEqual(100)
    expect(sut.recall).toBeGreaterThanOrEqual(0.98)
    expect(sut.precision).toBeGreaterThanOrEqual(0.97)
  })
})
