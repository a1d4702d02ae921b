-- Issue 13: who wrote each assistant turn, the router's reason, unsent/edited customer messages,
-- the context Meta gives with a message (reply_to, quick reply, referral, postback), and the
-- takeover signal. Idempotent: other migrations may add the same columns with `if not exists`.

-- `bot` | `human` | `import` for assistant turns; null for customer (user) turns.
alter table conversation_messages add column if not exists author text;
-- For bot turns: the router's reason (image, active, base, circuit-open, fallback, …).
alter table conversation_messages add column if not exists route_reason text;
-- Set when the customer unsent the message (its text, summary and embedding are blanked).
alter table conversation_messages add column if not exists deleted_at timestamptz;
-- When the customer last edited the message (message_edit), if ever.
alter table conversation_messages add column if not exists edited_at timestamptz;
-- reply_to / quick_reply / referral / postback, as Meta delivered them with the message.
alter table conversation_messages add column if not exists context jsonb;

create index if not exists conversation_messages_author_idx
  on conversation_messages (ig_user_id, created_at) where author = 'human';

-- A human reply within 30 min after a bot reply is a `takeover` signal about that reply.
alter table message_signals drop constraint if exists message_signals_action_check;
alter table message_signals add constraint message_signals_action_check
  check (action in ('react', 'unreact', 'takeover'));
