-- Delivery guarantees (issue 17): the outbox becomes a claimed state machine.
--   pending → sending (claimed with the user lock's fencing token, timestamped before the POST)
--           → sent | pending (a send error that proves nothing was delivered) | failed (permanent)
--   sending for longer than the send timeout → unknown ("maybe sent": not re-sent by default)
--   a DM not answered within DM_MAX_AGE_MS → expired (its undelivered parts, or one part 0 row
--   with empty text when no reply was written yet).
alter table outbox drop constraint if exists outbox_status_check;
alter table outbox add constraint outbox_status_check
  check (status in ('pending', 'sending', 'sent', 'failed', 'logged', 'unknown', 'expired'));
alter table outbox add column if not exists claim_fence bigint;
alter table outbox add column if not exists sending_at timestamptz;
