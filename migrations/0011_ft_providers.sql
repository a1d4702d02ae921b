-- Fine-tuning providers (issue 15): which provider ran each fine-tune, and the configuration it was
-- refused under (OpenAI's 403 training_not_available: not retried until that configuration changes).
alter table finetune_jobs add column if not exists provider text not null default 'openai';
alter table finetune_jobs add column if not exists config_key text;
create index if not exists finetune_jobs_rejected_idx on finetune_jobs (config_key) where status = 'rejected';
-- How a policy is served (also added by 0010_policies_exemplars.sql; identical DDL is harmless).
alter table models add column if not exists serving_model text;
alter table models add column if not exists endpoint jsonb;
