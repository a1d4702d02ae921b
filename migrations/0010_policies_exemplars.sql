-- Policies and the exemplar learner (issue 14). A policy is a `models` row extended with what
-- answers DMs: the learner that produced it, the model actually called, the endpoint that serves
-- it and, for the exemplar learner, the exemplar set whose demonstrations go into the prompt.
alter table models add column if not exists learner text not null default 'fine-tune';
alter table models add column if not exists serving_model text;
alter table models add column if not exists endpoint jsonb;
alter table models add column if not exists exemplar_set_id bigint;
alter table models add column if not exists system_prompt text;
alter table models add column if not exists trained_on jsonb;

-- Rows registered before policies existed: a base/vision row is the policy `base`, an `ft:` row
-- the policy `fine-tune`; both serve the model they name.
update models set learner = 'base' where kind in ('base', 'vision') and learner = 'fine-tune';
update models set serving_model = model where serving_model is null;

alter table models drop constraint if exists models_learner_check;
alter table models add constraint models_learner_check check (learner in ('base', 'exemplars', 'fine-tune'));
alter table models drop constraint if exists models_kind_check;
alter table models add constraint models_kind_check check (kind in ('base', 'fine_tuned', 'vision', 'exemplars'));

-- One exemplar set per distinct training data (content hash): a re-run with identical data finds
-- the set it built before. A set is servable only once `status = 'ready'` (set in the same
-- transaction that inserted its last exemplar), so a half-built set is never served.
create table if not exists exemplar_sets (
  id              bigserial primary key,
  content_hash    text not null unique,
  status          text not null default 'building' check (status in ('building', 'ready', 'failed')),
  embedding_model text not null,
  examples        integer not null default 0,
  tokens          integer not null default 0,
  source_files    jsonb not null default '[]'::jsonb,
  created_at      timestamptz not null default now(),
  ready_at        timestamptz
);

-- One demonstration: the customer turn(s) and the shop's answer (already redacted by the export),
-- the pseudonymous key of the customer (GDPR erase deletes by it from every set at once) and the
-- embedding of the customer text the live message is compared with.
create table if not exists exemplars (
  id         bigserial primary key,
  set_id     bigint not null references exemplar_sets (id) on delete cascade,
  user_key   text,
  prompt     text not null,
  answer     text not null,
  tokens     integer not null,
  embedding  vector(1536) not null
);
create index if not exists exemplars_set_idx on exemplars (set_id);
create index if not exists exemplars_user_key_idx on exemplars (user_key);
create index if not exists exemplars_embedding_idx on exemplars using hnsw (embedding vector_cosine_ops);
