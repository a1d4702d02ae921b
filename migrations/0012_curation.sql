-- Curation (issue 16): which exchanges become training data.

-- The gold set (issue 16) and operator exclusions, read here to hold them out; migration 0015 adds the gold set's index.
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

-- The 64-bit hashes of every example the master holds (or a committed daily file held): of its
-- normalised customer text + answer, seeded by the export directory, and of its whole line; 16
-- bytes an example (four big-endian int32s), one row per page a run wrote. The exporter loads them
-- into memory at the start of a run so a later run or a rerun never appends a duplicate (same
-- line) or a near-duplicate (same text hash, other context); a run's rows cost one insert a page.
-- Rows of a run that failed before `written` are deleted with it, so its redo exports them again.
create table if not exists export_line_hashes (
  run_id  bigint not null,
  hashes  bytea not null
);
