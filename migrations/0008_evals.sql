-- Gold-set evaluations (apps/evaluator): one run compares the candidate with the current active
-- model and the base model on the same prompts; every reply's scores are kept per item.
create table if not exists eval_runs (
  id               bigserial primary key,
  candidate_model  text not null,
  current_model    text not null,
  base_model       text not null,
  trigger          text not null default 'manual',
  status           text not null default 'running' check (status in ('running', 'succeeded', 'failed')),
  gold_path        text,
  gold_sha256      text,
  items            integer not null default 0,
  holdout_items    integer not null default 0,
  -- per model: { mean, similarity, factRecall, lengthOk, piiOk, judge, n }
  summary          jsonb,
  -- approved_pending | promoted | rejected
  decision         text,
  reason           text,
  error            text,
  created_at       timestamptz not null default now(),
  finished_at      timestamptz
);
create index if not exists eval_runs_candidate_idx on eval_runs (candidate_model, id);

create table if not exists eval_items (
  id              bigserial primary key,
  run_id          bigint not null references eval_runs (id) on delete cascade,
  item_id         text not null,
  source          text not null default 'gold' check (source in ('gold', 'holdout')),
  category        text,
  -- candidate | current | base (one reply may serve two roles when the models coincide)
  role            text not null,
  model           text not null,
  reply           text not null default '',
  similarity      double precision,
  fact_recall     double precision,
  facts_missing   text[] not null default '{}',
  length_ok       boolean not null,
  pii_ok          boolean not null,
  pii_types       text[] not null default '{}',
  judge_score     double precision,
  score           double precision not null,
  latency_ms      integer,
  error           text,
  created_at      timestamptz not null default now()
);
create index if not exists eval_items_run_idx on eval_items (run_id, role);
