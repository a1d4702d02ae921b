-- Every provider call that costs money: tokens and the estimated USD cost at the time of the call.
-- Budgets (tuner) and GET /admin/costs read it.
create table if not exists cost_ledger (
  id                bigserial primary key,
  operation         text not null,            -- chat | embeddings | fine_tune | ...
  model             text not null,
  purpose           text,                     -- reply | memory | evaluate | tune | ...
  prompt_tokens     integer not null default 0,
  completion_tokens integer not null default 0,
  trained_tokens    integer not null default 0,
  cost_usd          numeric(14, 6) not null default 0,
  ref               text,                     -- e.g. the fine-tuning job id
  created_at        timestamptz not null default now()
);
create index if not exists cost_ledger_created_idx on cost_ledger (created_at);
create index if not exists cost_ledger_operation_created_idx on cost_ledger (operation, created_at);
