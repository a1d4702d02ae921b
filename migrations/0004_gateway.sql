-- Gateway: the reply outbox and production quality signals (reactions).
-- Every table that holds a user's id has an `ig_user_id` column: GDPR erase deletes by it.

-- One row per reply part. Written as `pending` before the send, so a retried job re-sends exactly
-- the parts that are not yet `sent` (or `logged` when no IG_ACCESS_TOKEN is configured) and never
-- generates a second, different reply for the same mid.
create table if not exists outbox (
  id           bigserial primary key,
  mid          text not null,                 -- the customer's message this part answers
  ig_user_id   text not null,                 -- the recipient (the customer)
  ig_account_id text,                         -- our Instagram account (the sender)
  part         integer not null,
  parts        integer not null,
  text         text not null,
  status       text not null default 'pending' check (status in ('pending', 'sent', 'failed', 'logged')),
  attempts     integer not null default 0,
  last_error   text,
  model        text,
  sent_mid     text,                          -- the Graph API's message_id of the sent part
  created_at   timestamptz not null default now(),
  updated_at   timestamptz not null default now(),
  sent_at      timestamptz,
  unique (mid, part)
);
create index if not exists outbox_user_idx on outbox (ig_user_id, created_at);
create index if not exists outbox_sent_mid_idx on outbox (sent_mid) where sent_mid is not null;

-- Reactions to messages (satisfaction signals) and the model that wrote the reacted message.
create table if not exists message_signals (
  id          bigserial primary key,
  ig_user_id  text not null,
  mid         text not null,                  -- the message reacted to
  reaction    text,
  emoji       text,
  action      text not null check (action in ('react', 'unreact')),
  model       text,
  event_ts    bigint not null default 0,      -- Meta's timestamp (ms): a re-delivered event is stored once
  created_at  timestamptz not null default now(),
  unique (mid, ig_user_id, action, event_ts)
);
create index if not exists message_signals_user_idx on message_signals (ig_user_id);
create index if not exists message_signals_model_created_idx on message_signals (model, created_at);
