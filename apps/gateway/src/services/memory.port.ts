/**
 * The memory seam of the reply pipeline. The pipeline calls `recall` before the completion (its
 * messages go between the system prompt and the live user turn) and `afterStore` after each turn
 * it stores. The real implementation (embeddings, pgvector recall, back-fill) lives in the memory
 * module; `noMemory` is the empty context used when memory is disabled or not wired.
 */
export interface MemoryPort {
  recall(args: {
    igUserId: string
    text: string
    /** Turn ids never to return (the live user turn itself). */
    excludeIds?: number[]
  }): Promise<{ messages: Array<{ role: 'user' | 'assistant'; content: string }>; recalled: number }>
  /**
   * The live message's embedding as recall computes it (one provider call shared with recall when
   * both ask at once), for the exemplar lookup; undefined when memory does not embed (disabled).
   */
  queryVector?(igUserId: string, text: string): Promise<number[] | undefined>
  /** Called after a turn is stored; must not throw or block (embedding happens off the reply path). */
  afterStore(turn: { id: number; igUserId: string; role: 'user' | 'assistant'; content: string }): void
}

export const noMemory: MemoryPort = {
  async recall() {
    return { messages: [], recalled: 0 }
  },
  afterStore() {},
}
