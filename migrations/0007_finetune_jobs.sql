-- Fine-tuning jobs (apps/tuner). One row per training file (sha256 unique): two triggers for the
-- same data share one row and one provider job. The poll state machine reads and advances it, so a
-- restarted tuner resumes every non-terminal row. GET /admin/models shows failed rows' `error`.
create table if not exists finetune_jobs (
  id                 bigserial primary key,
  file_sha256        text not null unique,
  file_path          text not null,
  trigger            text not null default 'manual',
  base_model         text not null,
  n_epochs           integer not null,
  suffix             text,
  -- uploading → (provider states) validating_files | queued | running → succeeded | failed | cancelled
  status             text not null default 'uploading',
  provider_file_id   text,
  provider_job_id    text unique,
  examples           integer not null,
  tokens             integer not null,
  estimated_cost_usd numeric(14, 6) not null,
  trained_tokens     integer,
  actual_cost_usd    numeric(14, 6),
  fine_tuned_model   text,
  error              text,
  -- The provider's events, oldest first: [{id, created_at, level, message}].
  events             jsonb not null default '[]'::jsonb,
  -- Last daily export file (YYYY-MM-DD) included in the data: the cursor of FT_TRAINING_DATA=since-last.
  data_through       text,
  -- Held by the trigger that uploads/creates (two triggers for the same data: one provider job).
  lease_owner        text,
  lease_until        timestamptz,
  poll_count         integer not null default 0,
  poll_errors        integer not null default 0,
  deadline_at        timestamptz not null,
  created_at         timestamptz not null default now(),
  updated_at         timestamptz not null default now(),
  finished_at        timestamptz
);
create index if not exists finetune_jobs_status_idx on finetune_jobs (status);
create index if not exists finetune_jobs_created_idx on finetune_jobs (created_at);
