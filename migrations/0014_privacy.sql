-- Privacy fixes of issue 17.
--
-- GDPR erase: the audit row is written in the same transaction as the deletion of the user's rows
-- (with the database counts); `completed_at` is set once the export files and the provider copies
-- are done too. An audit row without it is an erase that stopped half-way: running it again is
-- safe and finishes it.
alter table gdpr_erasures add column if not exists completed_at timestamptz;
update gdpr_erasures set completed_at = created_at where completed_at is null;

-- Every training file uploaded to a provider is a finetune_jobs row (provider_file_id); these
-- record what became of that copy: deleted at the provider (by the tuner once the job ended,
-- FT_DELETE_TRAINING_FILES, or by a GDPR erase), or to be deleted when the job ends (an erase
-- while the job still reads it).
alter table finetune_jobs add column if not exists provider_file_deleted_at timestamptz;
alter table finetune_jobs add column if not exists provider_file_delete_when_done boolean not null default false;
create index if not exists finetune_jobs_file_path_idx on finetune_jobs (file_path);

-- A budget reservation (cost_ledger operation 'fine_tune_reservation') is bound to a finetune_jobs
-- row first and to the provider job once it exists; settled or released when the job ends.
create index if not exists cost_ledger_ref_idx on cost_ledger (operation, ref);
