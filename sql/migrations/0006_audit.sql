-- 0006: the production audit (`mediabackups audit`, issue 10), and the md5
-- it compares production's listings with.
--
-- files.md5: the md5 of the version's bytes, lower-case hex as raw bytes.
-- The backup computes it in the same pass as sha1 and sha256; for versions
-- backed up before this migration the audit records it once it has checked
-- a production object of the version's size and sha1 (see the README,
-- "Audit"). Swift lists every object with its md5 (the ETag), so a version
-- with an md5 is checked from the listing alone.
--
-- files.audit_status / audit_date / audit_detail: what the last audit that
-- compared the version found (ok, missing, damaged; NULL: never audited or
-- moved since), since when it is in that state, and why. Only changes are
-- written, so an audit of an unchanged wiki writes nothing per version. The
-- time of the last check of a version is its container's
-- audit_containers.checked_at. No index: the audit reads the previous state
-- while it walks files_production, and query-media-file reads it by row.
--
-- ADD COLUMN at the end of the table is instant in MariaDB 10.3 and later:
-- no copy of a table of 110 M rows.
ALTER TABLE files
  ADD COLUMN IF NOT EXISTS md5 BINARY(16) NULL,
  ADD COLUMN IF NOT EXISTS audit_status ENUM('ok','missing','damaged') NULL,
  ADD COLUMN IF NOT EXISTS audit_date DATETIME NULL,
  ADD COLUMN IF NOT EXISTS audit_detail VARBINARY(255) NULL;

-- One row per audit run of a wiki. finished_at is NULL while it runs and for
-- a run that was interrupted or failed; "the last audit" a run compares with
-- is the newest finished one.
CREATE TABLE IF NOT EXISTS audits (
  id           BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  wiki_id      INT UNSIGNED NOT NULL,
  started_at   DATETIME NOT NULL,
  finished_at  DATETIME NULL,
  host         VARBINARY(255) NOT NULL,
  containers   INT UNSIGNED NOT NULL DEFAULT 0,
  objects      BIGINT UNSIGNED NOT NULL DEFAULT 0,
  versions     BIGINT UNSIGNED NOT NULL DEFAULT 0,
  missing      BIGINT UNSIGNED NOT NULL DEFAULT 0,
  damaged      BIGINT UNSIGNED NOT NULL DEFAULT 0,
  unexpected   BIGINT UNSIGNED NOT NULL DEFAULT 0,
  size_only    BIGINT UNSIGNED NOT NULL DEFAULT 0,
  PRIMARY KEY (id),
  KEY audits_wiki (wiki_id, finished_at),
  CONSTRAINT audits_wiki FOREIGN KEY (wiki_id) REFERENCES wikis (id)
) ENGINE=InnoDB DEFAULT CHARSET=binary;

-- One row per production container of a wiki: when an audit last walked it
-- to its end, and what it found there. A container the metadata names but
-- production lacks is walked too (every version in it is missing).
CREATE TABLE IF NOT EXISTS audit_containers (
  wiki_id     INT UNSIGNED NOT NULL,
  container   VARBINARY(255) NOT NULL,
  audit_id    BIGINT UNSIGNED NOT NULL,
  checked_at  DATETIME NOT NULL,
  present     BOOLEAN NOT NULL,
  objects     BIGINT UNSIGNED NOT NULL,
  versions    BIGINT UNSIGNED NOT NULL,
  missing     BIGINT UNSIGNED NOT NULL,
  damaged     BIGINT UNSIGNED NOT NULL,
  unexpected  BIGINT UNSIGNED NOT NULL,
  PRIMARY KEY (wiki_id, container),
  CONSTRAINT audit_containers_wiki FOREIGN KEY (wiki_id) REFERENCES wikis (id)
) ENGINE=InnoDB DEFAULT CHARSET=binary;

-- Objects an audit found in a wiki's containers that no version of the
-- metadata is at. A row lives while audits keep finding the object:
-- last_audit is the run that last saw it, and the end of a container's walk
-- removes the rows of that container the run did not see (gone, or
-- explained by a version since).
CREATE TABLE IF NOT EXISTS audit_unexpected (
  wiki_id      INT UNSIGNED NOT NULL,
  container    VARBINARY(255) NOT NULL,
  path         VARBINARY(1024) NOT NULL,
  size         BIGINT UNSIGNED NOT NULL,
  md5          BINARY(16) NULL,
  modified     DATETIME NULL,
  detail       VARBINARY(255) NULL,
  first_audit  BIGINT UNSIGNED NOT NULL,
  first_seen   DATETIME NOT NULL,
  last_audit   BIGINT UNSIGNED NOT NULL,
  PRIMARY KEY (wiki_id, container, path),
  CONSTRAINT audit_unexpected_wiki FOREIGN KEY (wiki_id) REFERENCES wikis (id)
) ENGINE=InnoDB DEFAULT CHARSET=binary;
