-- The deployment's gold set (issue 16): `gold_items` and `curation_exclusions` are created by the
-- curation migration (0012, which always runs first); this one adds what the gold set needs on top.

-- A customer turn is gold at most once (two concurrent "Mark as gold" clicks make one item).
create unique index if not exists gold_items_message_unique on gold_items (message_id) where message_id is not null;

-- Which gold set an evaluation used: `file` (EVAL_GOLD_PATH), `table` (gold_items) or `table+file`;
-- gold_sha256 (0008) is its content hash and gold_size its item count (the EVAL_MIN_GOLD check).
alter table eval_runs add column if not exists gold_source text;
alter table eval_runs add column if not exists gold_size integer;
-- Why auto-promotion was held back (e.g. a gold set smaller than EVAL_MIN_GOLD); null when it was not.
alter table eval_runs add column if not exists promotion_blocked text;

-- Each item's prompt and ideal answer beside the replies, so the console's side-by-side comparison
-- needs no gold file on the gateway's disk (and shows table-backed gold items too).
alter table eval_items add column if not exists customer_text text;
alter table eval_items add column if not exists ideal text;
