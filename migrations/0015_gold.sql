-- The deployment's gold set (issue 16) and operator exclusions. The two tables' DDL is shared, word
-- for word, with the curation migration (0012); both use IF NOT EXISTS, so either may run first.
create table if not exists gold_items (
  id              bigserial primary key,
  -- the customer turn it was made from (null when typed in by hand)
  message_id      bigint references conversation_messages(id) on delete set null,
  ig_user_id      text,                       -- for GDPR erase (null when typed in)
  customer_text   text not null,
  ideal_answer    text not null,
  required_facts  jsonb not null default '[]'::jsonb,
  created_by      text not null default 'admin',
  created_at      timestamptz not null default now()
);
create index if not exists gold_items_message_idx on gold_items (message_id);
create table if not exists curation_exclusions (
  -- a customer turn (or the assistant turn answering it) an operator excluded from training
  message_id      bigint primary key references conversation_messages(id) on delete cascade,
  reason          text not null default 'operator',
  created_by      text not null default 'admin',
  created_at      timestamptz not null default now()
);

-- A customer turn is gold at most once (two concurrent "Mark as gold" clicks make one item).
create unique index if not exists gold_items_message_unique on gold_items (message_id) where message_id is not null;

-- Which gold set an evaluation used: `file` (EVAL_GOLD_PATH), `table` (gold_items) or `table+file`;
-- gold_sha256 (0008) is its content hash and gold_size its item count (the EVAL_MIN_GOLD check).
alter table eval_runs add column if not exists gold_source text;
alter table eval_runs add column if not exists gold_size integer;
-- Why auto-promotion was held back (e.g. a gold set smaller than EVAL_MIN_GOLD); null when it was not.
alter table eval_runs add column if not exists promotion_blocked text;

-- Each item's prompt and ideal answer beside the replies, so the console's side-by-side comparison
-- needs no gold file on the gateway's disk (and shows table-backed gold items too).
alter table eval_items add column if not exists customer_text text;
alter table eval_items add column if not exists ideal text;
