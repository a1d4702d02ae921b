import type { Queryable } from '@loopdm/db/pool'

/**
 * Where a registered model is served (columns `models.endpoint`, `models.serving_model`; migrations
 * 0010/0011): `endpoint` null = the default OpenAI client; `{provider: "together"|"vllm", baseURL}`
 * = another OpenAI-compatible endpoint (`createEndpointClient` in @loopdm/platform/openai).
 */
export interface ServingEndpoint {
  provider: 'openai' | 'together' | 'vllm'
  baseURL?: string
}

export function createServingRepository(db: Queryable) {
  return {
    async setServing(model: string, s: { endpoint: ServingEndpoint | null; servingModel: string }): Promise<void> {
      await db.query(`update models set endpoint = $2::jsonb, serving_model = $3, updated_at = now() where model = $1`, [
        model,
        s.endpoint === null ? null : JSON.stringify(s.endpoint),
        s.servingModel,
      ])
    },
    async findServing(model: string): Promise<{ endpoint: ServingEndpoint | null; servingModel: string | null } | null> {
      const r = await db.query<{ endpoint: ServingEndpoint | null; servingModel: string | null }>(
        `select endpoint, serving_model as "servingModel" from models where model = $1`,
        [model],
      )
      return r.rows[0] ?? null
    },
  }
}

export type ServingRepository = ReturnType<typeof createServingRepository>
