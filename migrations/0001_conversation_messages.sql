-- The seed's table, plus what production needs. Runs under the migrator and under
-- `psql $DATABASE_URL -f migrations/0001_conversation_messages.sql` on a pgvector Postgres.
create extension if not exists vector;

create table if not exists conversation_messages (
  id              bigserial primary key,
  ig_user_id      text not null,
  role            text not null check (role in ('user', 'assistant', 'system')),
  content         text not null default '',
  content_summary text,
  embedding       vector(1536),
  -- Instagram's message id (mid) for user turns; `<mid>#reply` style ids for assistant turns.
  ig_message_id   text unique,
  model           text,
  has_image       boolean not null default false,
  image_url       text,
  created_at      timestamptz not null default now()
);

create index if not exists conversation_messages_user_created_idx
  on conversation_messages (ig_user_id, created_at);

-- The exporter's watermark scan: (created_at, id) keyset order.
create index if not exists conversation_messages_created_id_idx
  on conversation_messages (created_at, id);

create index if not exists conversation_messages_embedding_idx
  on conversation_messages using hnsw (embedding vector_cosine_ops);
