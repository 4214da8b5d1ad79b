-- 0002: where `mediabackups update` is in each wiki's log (list=logevents).
-- The API has no "from log id" parameter, only an inclusive start timestamp,
-- and several events can share one second: the cursor is the timestamp of
-- the last applied event plus the ids of the events already applied at that
-- very second (comma-separated), which are skipped when reading again.

CREATE TABLE IF NOT EXISTS wiki_cursors (
  wiki_id        INT UNSIGNED NOT NULL,
  log_timestamp  DATETIME NOT NULL,
  seen_ids       MEDIUMBLOB NOT NULL,
  last_log_id    BIGINT UNSIGNED NOT NULL DEFAULT 0,
  updated_at     DATETIME NOT NULL,
  PRIMARY KEY (wiki_id),
  CONSTRAINT wiki_cursors_wiki FOREIGN KEY (wiki_id) REFERENCES wikis (id)
) ENGINE=InnoDB DEFAULT CHARSET=binary;
