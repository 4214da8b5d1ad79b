-- 0004: the last successful run of each command (inventory, backup, update)
-- per wiki, for monitoring (mediabackups_last_success_timestamp_seconds).
-- It lives here, not in a process, because the metadata database is what
-- every worker of a fleet shares and it outlives them all: any process, on
-- any host, exports the same truth. started_at matters for update: every
-- event logged before the start of a round that read the log to its end is
-- applied (mediabackups_update_caught_up_timestamp_seconds). One row per
-- wiki and command, so reading it is a primary-key lookup.
CREATE TABLE IF NOT EXISTS last_success (
  wiki_id      INT UNSIGNED NOT NULL,
  command      VARBINARY(32) NOT NULL,
  started_at   DATETIME NOT NULL,
  finished_at  DATETIME NOT NULL,
  host         VARBINARY(255) NOT NULL,
  PRIMARY KEY (wiki_id, command),
  CONSTRAINT last_success_wiki FOREIGN KEY (wiki_id) REFERENCES wikis (id)
) ENGINE=InnoDB DEFAULT CHARSET=binary;
