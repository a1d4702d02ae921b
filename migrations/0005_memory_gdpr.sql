-- Memory (embedding back-fill) and GDPR erase (issue 6).

-- The back-fill sweep looks for turns still waiting for an embedding; a partial index keeps that
-- lookup proportional to the backlog, not to the table.
create index if not exists conversation_messages_unembedded_idx
  on conversation_messages (id) where embedding is null;

-- One audit row per erase request: who asked, when, and how much was removed — never the user's
-- id (only its pseudonymous key, see packages/training-data/src/pseudonym.ts) and never any content.
create table if not exists gdpr_erasures (
  id          bigserial primary key,
  user_key    text not null,
  actor       text not null,
  counts      jsonb not null default '{}'::jsonb,
  created_at  timestamptz not null default now()
);
create index if not exists gdpr_erasures_user_key_idx on gdpr_erasures (user_key, created_at);
