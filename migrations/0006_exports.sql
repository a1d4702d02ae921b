-- The exporter's runs and watermark. A nightly run reads every conversation_messages row after
-- the last committed run's (to_created_at, to_id), plus rows inserted since that run
-- (id > to_high_id) that carry an older timestamp, so neither a missed night nor a late message
-- is lost. `plan` holds what a run wrote (files, temp paths, master offsets, carried-over user
-- turns) once it is 'written', so a crash between writing and committing is finished, not redone.
create table if not exists export_runs (
  id               bigserial primary key,
  run_date         date not null,
  kind             text not null check (kind in ('nightly', 'backfill')),
  status           text not null check (status in ('started', 'written', 'committed', 'failed')),
  trigger          text not null default 'manual',
  -- host:pid of the process running it; with heartbeat_at, the lease against a second runner.
  owner            text not null,
  heartbeat_at     timestamptz not null default now(),
  since_at         timestamptz,
  until_at         timestamptz,
  from_created_at  timestamptz,
  from_id          bigint,
  from_high_id     bigint,
  to_created_at    timestamptz,
  to_id            bigint,
  to_high_id       bigint,
  plan             jsonb,
  rows_read        bigint not null default 0,
  examples         bigint not null default 0,
  bytes            bigint not null default 0,
  pii              jsonb not null default '{}'::jsonb,
  error            text,
  started_at       timestamptz not null default now(),
  written_at       timestamptz,
  committed_at     timestamptz
);

-- At most one run in flight (started or written) across every replica.
create unique index if not exists export_runs_one_in_flight
  on export_runs ((true)) where status in ('started', 'written');

create index if not exists export_runs_committed_nightly_idx
  on export_runs (id) where status = 'committed' and kind = 'nightly';

-- User turns at the end of a run's window with no answer yet: carried into the next run, which
-- reads that user's rows from here on, so the pair is exported once the answer exists.
create table if not exists export_pending (
  ig_user_id       text primary key,
  from_created_at  timestamptz not null,
  from_id          bigint not null,
  run_id           bigint not null
);
