import { manifestLine, manifestSource } from '@loopdm/training-data/export-layout'
import { describe, expect, it } from 'vitest'

describe('manifest lines', () => {
  it('carry the answer source next to the key and date', () => {
    expect(manifestLine('k1', '2040-01-02', 'human')).toBe('k1\t2040-01-02\thuman\n')
    expect(manifestSource('k1\t2040-01-02\thuman')).toBe('human')
    expect(manifestSource('k1\t2040-01-02\timport\n')).toBe('import')
    expect(manifestSource('k1\t2040-01-02\tbot')).toBe('bot')
  })
  it('written before curation (key and date only) stay readable, with no source', () => {
    expect(manifestLine('k1', '2040-01-02')).toBe('k1\t2040-01-02\n')
    expect(manifestSource('k1\t2040-01-02')).toBeUndefined()
    expect(manifestSource('k1\t2040-01-02\tsomething-else')).toBeUndefined()
  })
})
