-- Issue 19: canary rollouts judged by live signals, and shadow answers that are never sent.
--
-- canary_runs: one row per canary. While one is `running` (or `awaiting_approval`) every gateway
-- routes `percent` % of customers (sha256(salt ‖ pseudonymous key)) to `candidate_model`.
create table if not exists canary_runs (
  id               bigserial primary key,
  candidate_model  text not null,
  control_model    text,                       -- the active model at the start (null = BASE_MODEL)
  percent          double precision not null check (percent > 0 and percent <= 100),
  min_replies      integer not null check (min_replies >= 1),
  max_hours        double precision not null check (max_hours > 0),
  margin           double precision,           -- null = CANARY_MARGIN
  salt             text not null,
  status           text not null default 'running'
                   check (status in ('running', 'awaiting_approval', 'rolled_back', 'promoted', 'kept', 'stopped')),
  reason           text,
  decision         jsonb,                      -- the last CanaryDecision (arms, rates, statistic)
  actor            text not null,
  started_at       timestamptz not null default now(),
  ended_at         timestamptz,
  last_check_at    timestamptz
);
-- At most one canary splits traffic at a time.
create unique index if not exists canary_runs_one_live_idx on canary_runs ((true))
  where status in ('running', 'awaiting_approval');

-- The canary's log: start, every check and the decision, with the numbers. `id` orders the
-- hot-swap messages that carry the split (a gateway ignores an older one).
create table if not exists canary_events (
  id          bigserial primary key,
  run_id      bigint not null references canary_runs (id) on delete cascade,
  kind        text not null check (kind in ('start', 'check', 'decision')),
  decision    text,
  reason      text not null,
  numbers     jsonb,
  actor       text not null,
  created_at  timestamptz not null default now()
);
create index if not exists canary_events_run_idx on canary_events (run_id, id);

-- One row per reply produced during a canary: the arm, the model that answered, the router's
-- reason (fallback) and the latency. Send failures and signals are joined from outbox and
-- message_signals by mid.
create table if not exists canary_replies (
  run_id       bigint not null references canary_runs (id) on delete cascade,
  mid          text not null,
  ig_user_id   text not null,
  arm          text not null check (arm in ('canary', 'control')),
  model        text not null,
  route_reason text,
  latency_ms   integer,
  created_at   timestamptz not null default now(),
  primary key (run_id, mid)
);

-- Which policy and arm answered a bot turn.
alter table conversation_messages add column if not exists policy_id bigint;
alter table conversation_messages add column if not exists canary_arm text;

-- Shadow: a candidate answers a sample of live DMs in the background; never sent.
create table if not exists shadow_runs (
  id               bigserial primary key,
  candidate_model  text not null,
  sample           double precision not null check (sample > 0 and sample <= 1),
  status           text not null default 'running' check (status in ('running', 'stopped')),
  actor            text not null,
  started_at       timestamptz not null default now(),
  ended_at         timestamptz
);
create unique index if not exists shadow_runs_one_live_idx on shadow_runs ((true)) where status = 'running';

create table if not exists shadow_answers (
  id           bigserial primary key,
  run_id       bigint not null references shadow_runs (id) on delete cascade,
  mid          text not null,
  ig_user_id   text not null,
  model        text not null,
  content      text not null,
  sent_content text,                           -- the reply that was sent (or the human's)
  scores       jsonb,                          -- similarity, PII, length (judge when configured)
  cost_usd     numeric(14, 6) not null default 0,
  created_at   timestamptz not null default now(),
  unique (run_id, mid)
);
