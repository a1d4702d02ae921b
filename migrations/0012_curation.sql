-- Curation (issue 16): which exchanges become training data.

-- Shared with the gold set (migration 0015 holds the identical DDL; both use IF NOT EXISTS).
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

-- One row per example the master holds (or a committed daily file held): a 64-bit hash of its
-- normalised customer text + answer (`hash`, seeded by the export directory) and of the whole
-- line (`line_hash`). The exporter loads them into memory at the start of a run (16 bytes an
-- example) so a later run or a rerun never appends a duplicate (same line) or a near-duplicate
-- (same hash, other context); no index, so recording them costs the run next to nothing. Rows of
-- a run that failed before `written` are deleted with it, so the redone run exports them again.
create table if not exists export_line_hashes (
  hash       bigint not null,
  line_hash  bigint not null,
  run_id     bigint not null
);
