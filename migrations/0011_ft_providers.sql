-- Fine-tuning providers (issue 15): which provider ran each fine-tune, and the configuration it was
-- refused under (OpenAI's 403 training_not_available: not retried until that configuration changes).
alter table finetune_jobs add column if not exists provider text not null default 'openai';
alter table finetune_jobs add column if not exists config_key text;
create index if not exists finetune_jobs_rejected_idx on finetune_jobs (config_key) where status = 'rejected';
