import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

/**
 * openai-local's state: uploaded files, fine-tuning jobs (with their events) and fine-tuned
 * models. Always held in memory; with a `dataDir` every change is also written as one JSON file
 * per record (write to a temp file, then rename — atomic on POSIX), and the directory is read
 * back on start, so a restart keeps files, jobs and models.
 */

export interface FileRecord {
  id: string
  object: 'file'
  bytes: number
  created_at: number
  filename: string
  purpose: string
  status: 'processed'
  status_details: null
  expires_at: null
  /** Not OpenAI's: set for files uploaded through another provider's API (hidden from `/v1/files`). */
  provider?: 'together'
  /** Not OpenAI's: the provider's own validation of the upload (Together checks on upload). */
  validation?: { valid: boolean; error?: string; examples?: number }
}

export type JobStatus = 'validating_files' | 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled'
export const TERMINAL: ReadonlySet<JobStatus> = new Set(['succeeded', 'failed', 'cancelled'])

export interface JobEvent {
  object: 'fine_tuning.job.event'
  id: string
  created_at: number
  level: 'info' | 'warn' | 'error'
  message: string
  data: Record<string, unknown>
  type: 'message' | 'metrics'
}

export interface JobRecord {
  object: 'fine_tuning.job'
  id: string
  model: string
  created_at: number
  finished_at: number | null
  fine_tuned_model: string | null
  organization_id: string
  result_files: string[]
  status: JobStatus
  validation_file: string | null
  training_file: string
  hyperparameters: {
    n_epochs: number | 'auto'
    batch_size: number | 'auto'
    learning_rate_multiplier: number | 'auto'
  }
  trained_tokens: number | null
  error: { code: string; message: string; param: string | null } | null
  user_provided_suffix: string | null
  seed: number
  estimated_finish: number | null
  integrations: []
  metadata: Record<string, string> | null
  method: { type: 'supervised'; supervised: { hyperparameters: JobRecord['hyperparameters'] } }
  /** Not OpenAI's: events, newest last (the API lists them newest first). */
  events: JobEvent[]
  /** Not OpenAI's: a job created through another provider's API (hidden from OpenAI's routes). */
  provider?: 'together'
  /** Not OpenAI's: the model name the job will create, when the provider names it up front. */
  outputModel?: string
  /** Not OpenAI's: provider-specific fields echoed by that provider's views (Together's `training_type`). */
  providerFields?: Record<string, unknown>
}

/** One user turn and the assistant reply that followed it in a training example. */
export interface TrainingPair {
  user: string
  assistant: string
}

export interface FineTunedModelRecord {
  id: string
  object: 'model'
  created: number
  owned_by: string
  /** The base model it was tuned from (`gpt-3.5-turbo-0125` …). */
  base: string
  jobId: string
  /** Epoch ms from which it answers (simulates OpenAI's "not yet callable" delay). */
  callableAt: number
  pairs: TrainingPair[]
}

export interface Store {
  files: Map<string, FileRecord>
  jobs: Map<string, JobRecord>
  models: Map<string, FineTunedModelRecord>
  fileContent(id: string): Buffer | undefined
  putFile(rec: FileRecord, content: Buffer): void
  deleteFile(id: string): boolean
  putJob(rec: JobRecord): void
  putModel(rec: FineTunedModelRecord): void
  deleteModel(id: string): boolean
}

function writeAtomic(path: string, data: string | Buffer) {
  const tmp = `${path}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`
  writeFileSync(tmp, data)
  renameSync(tmp, path)
}

/** File names for ids that may hold colons (`ft:…`). */
const safe = (id: string) => encodeURIComponent(id).replace(/%/g, '_')

function readJsonDir<T>(dir: string): T[] {
  const out: T[] = []
  for (const name of readdirSync(dir)) {
    if (!name.endsWith('.json')) continue
    try {
      out.push(JSON.parse(readFileSync(join(dir, name), 'utf8')) as T)
    } catch {
      // A torn write cannot happen (rename is atomic); anything else unreadable is skipped.
    }
  }
  return out
}

export function createStore(opts: { dataDir?: string | undefined } = {}): Store {
  const files = new Map<string, FileRecord>()
  const contents = new Map<string, Buffer>()
  const jobs = new Map<string, JobRecord>()
  const models = new Map<string, FineTunedModelRecord>()
  const dir = opts.dataDir
  const sub = dir
    ? { files: join(dir, 'files'), jobs: join(dir, 'jobs'), models: join(dir, 'models') }
    : undefined

  if (sub) {
    for (const d of Object.values(sub)) mkdirSync(d, { recursive: true })
    for (const f of readJsonDir<FileRecord>(sub.files)) files.set(f.id, f)
    for (const j of readJsonDir<JobRecord>(sub.jobs)) jobs.set(j.id, j)
    for (const m of readJsonDir<FineTunedModelRecord>(sub.models)) models.set(m.id, m)
  }

  return {
    files,
    jobs,
    models,
    fileContent(id) {
      if (!files.has(id)) return undefined
      const cached = contents.get(id)
      if (cached || !sub) return cached
      try {
        return readFileSync(join(sub.files, `${safe(id)}.content`))
      } catch {
        return undefined
      }
    },
    putFile(rec, content) {
      if (sub) {
        writeAtomic(join(sub.files, `${safe(rec.id)}.content`), content)
        writeAtomic(join(sub.files, `${safe(rec.id)}.json`), JSON.stringify(rec))
      } else {
        contents.set(rec.id, content)
      }
      files.set(rec.id, rec)
    },
    deleteFile(id) {
      if (!files.delete(id)) return false
      contents.delete(id)
      if (sub) {
        rmSync(join(sub.files, `${safe(id)}.json`), { force: true })
        rmSync(join(sub.files, `${safe(id)}.content`), { force: true })
      }
      return true
    },
    putJob(rec) {
      jobs.set(rec.id, rec)
      if (sub) writeAtomic(join(sub.jobs, `${safe(rec.id)}.json`), JSON.stringify(rec))
    },
    putModel(rec) {
      models.set(rec.id, rec)
      if (sub) writeAtomic(join(sub.models, `${safe(rec.id)}.json`), JSON.stringify(rec))
    },
    deleteModel(id) {
      if (!models.delete(id)) return false
      if (sub) rmSync(join(sub.models, `${safe(id)}.json`), { force: true })
      return true
    },
  }
}
