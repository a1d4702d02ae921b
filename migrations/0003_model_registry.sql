-- The model registry: the source of truth for which model answers users.
create table if not exists models (
  id              bigserial primary key,
  model           text not null unique,
  kind            text not null default 'fine_tuned' check (kind in ('base', 'fine_tuned', 'vision')),
  base_model      text,
  status          text not null default 'candidate'
                  check (status in ('candidate', 'approved_pending', 'rejected', 'active', 'inactive', 'retired')),
  finetune_job_id text,
  training_file   text,
  metrics         jsonb,
  reason          text,
  created_at      timestamptz not null default now(),
  updated_at      timestamptz not null default now(),
  retired_at      timestamptz
);

-- At most one active model.
create unique index if not exists models_one_active_idx on models ((true)) where status = 'active';

-- Append-only log of every promotion and rollback; its id is the monotonically increasing version.
create table if not exists model_promotions (
  id          bigserial primary key,
  from_model  text,
  to_model    text not null,
  actor       text not null,
  reason      text not null,
  metrics     jsonb,
  created_at  timestamptz not null default now()
);
