-- 0007: moving stored objects (rebalance, rekey), and whom an encrypted
-- object's age header is written for.
--
-- object_moves is the journal of moves in progress: one row per object
-- (a backups row) being copied from one place (server and key) to another.
-- A mover inserts the row BEFORE it writes anything at the new place,
-- points the backups row at the new place once the copy is verified there,
-- then removes the old object and deletes the row. A row left by a killed
-- mover says what to clean: if the backups row points at to_*, the old
-- object at from_* is removed; otherwise the copy at to_* is (unless some
-- backups row records it there). So a version is always readable through
-- its recorded place, and the next run leaves no orphan. There is no
-- foreign key to backups: a move outlives an object deleted meanwhile,
-- and its copy must still be cleaned.
--   reason         rebalance (another server, same key) or rekey (same
--                  server, a new key holding the rewrapped object)
--   host           who started it, for the operator
--
-- backups.recipients_fp is the fingerprint (the first 8 bytes of a sha256,
-- see encryption.Fingerprint) of the recipients list `rekey` last wrote the
-- object's header for; NULL when it was written by a backup (for whatever
-- encryption.recipients said then). `rekey` rewrites every encrypted object
-- whose fingerprint is not the current list's, so it resumes where it
-- stopped.
CREATE TABLE IF NOT EXISTS object_moves (
  backup_id      BIGINT UNSIGNED NOT NULL,
  reason         ENUM('rebalance','rekey') NOT NULL,
  from_location  SMALLINT UNSIGNED NOT NULL,
  from_key       VARBINARY(255) NOT NULL,
  to_location    SMALLINT UNSIGNED NOT NULL,
  to_key         VARBINARY(255) NOT NULL,
  started_at     DATETIME NOT NULL,
  host           VARBINARY(255) NOT NULL,
  PRIMARY KEY (backup_id)
) ENGINE=InnoDB DEFAULT CHARSET=binary;
ALTER TABLE backups ADD COLUMN IF NOT EXISTS recipients_fp BINARY(8) NULL;
