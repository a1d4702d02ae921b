-- Memory's quantised pass in the gateway's own memory (issue 20; memory.codes.ts). The gateway keeps
-- each mid-sized user's binary codes (`embedding_bq`, migration 0016) in memory and ranks them
-- itself; to stay current it fetches only the codes embedded since it last looked, found by
-- `embedded_seq`: a global sequence number given when a row is inserted (its default) and given
-- again when the back-fill writes its embedding (memory.repository.ts setEmbeddings).
-- Rows embedded before this migration keep a null number: a user's first load reads every code
-- through `conversation_messages_user_bq_idx`, so nothing is lost. No table rewrite: the column is
-- added without a default, which is set afterwards (it applies to new rows only).
create sequence if not exists conversation_messages_embedded_seq;
alter table conversation_messages add column if not exists embedded_seq bigint;
alter table conversation_messages
  alter column embedded_seq set default nextval('conversation_messages_embedded_seq');
create index if not exists conversation_messages_user_embedded_seq_idx
  on conversation_messages (ig_user_id, embedded_seq)
  where embedding_bq is not null and role in ('user', 'assistant');
