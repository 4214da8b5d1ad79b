-- 0003: backup statuses for versions that are not failures but cannot be
-- backed up as they stand, each with its reason in error_reason:
--   unavailable  production serves no bytes with this version's sha1 at the
--                moment (it was overwritten and moved); retried later
--   unreadable   the configured login may not read it (the reason names the
--                right it lacks); backed up once the credentials allow it
--   gone         production no longer has its bytes at all (erased), though
--                the API still lists it: nothing to back up, not a failure
-- MODIFY COLUMN with the full list is idempotent.
ALTER TABLE files MODIFY COLUMN backup_status
  ENUM('pending','processing','backedup','duplicate','error','unavailable','unreadable','gone')
  NOT NULL DEFAULT 'pending';
