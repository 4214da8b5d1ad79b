-- 0001: the initial schema. Every statement is idempotent (IF NOT EXISTS), so
-- a run interrupted half-way can simply be applied again.
-- Text that comes from a wiki (titles, paths, names) is VARBINARY: compared
-- byte for byte, exactly as MediaWiki stores it. Dates are DATETIME in UTC.

CREATE TABLE IF NOT EXISTS wikis (
  id    INT UNSIGNED NOT NULL AUTO_INCREMENT,
  name  VARBINARY(64) NOT NULL,
  type  ENUM('public','private','closed','deleted') NOT NULL,
  PRIMARY KEY (id),
  UNIQUE KEY wikis_name (name)
) ENGINE=InnoDB DEFAULT CHARSET=binary;

-- One row per MinIO server that ever received an object. Restores read the
-- endpoint recorded here, never today's shard list.
CREATE TABLE IF NOT EXISTS locations (
  id              SMALLINT UNSIGNED NOT NULL AUTO_INCREMENT,
  endpoint        VARBINARY(255) NOT NULL,
  writes_enabled  BOOLEAN NOT NULL DEFAULT TRUE,
  PRIMARY KEY (id),
  UNIQUE KEY locations_endpoint (endpoint)
) ENGINE=InnoDB DEFAULT CHARSET=binary;

-- One row per stored object: a distinct content (sha256) of one wiki.
CREATE TABLE IF NOT EXISTS backups (
  id           BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  wiki_id      INT UNSIGNED NOT NULL,
  sha256       BINARY(32) NOT NULL,
  sha1         BINARY(20) NOT NULL,
  size         BIGINT UNSIGNED NOT NULL,
  location_id  SMALLINT UNSIGNED NOT NULL,
  bucket       VARBINARY(64) NOT NULL,
  object_key   VARBINARY(255) NOT NULL,
  encrypted    BOOLEAN NOT NULL,
  stored_size  BIGINT UNSIGNED NOT NULL,
  backup_date  DATETIME NOT NULL,
  PRIMARY KEY (id),
  UNIQUE KEY backups_wiki_sha256 (wiki_id, sha256),
  KEY backups_location (location_id),
  CONSTRAINT backups_wiki FOREIGN KEY (wiki_id) REFERENCES wikis (id),
  CONSTRAINT backups_loc FOREIGN KEY (location_id) REFERENCES locations (id)
) ENGINE=InnoDB DEFAULT CHARSET=binary;

-- One row per version of a file, as production knows it.
CREATE TABLE IF NOT EXISTS files (
  id                    BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  wiki_id               INT UNSIGNED NOT NULL,
  title                 VARBINARY(255) NOT NULL,
  production_container  VARBINARY(255) NOT NULL,
  production_path       VARBINARY(512) NOT NULL,
  source_url            VARBINARY(2048) NULL,
  archive_name          VARBINARY(255) NULL,
  storage_key           VARBINARY(64) NULL,
  filearchive_id        BIGINT UNSIGNED NULL,
  sha1                  BINARY(20) NULL,
  sha256                BINARY(32) NULL,
  size                  BIGINT UNSIGNED NULL,
  mime                  VARBINARY(255) NULL,
  media_type            VARBINARY(32) NULL,
  production_status     ENUM('public','archived','deleted','hard-deleted') NOT NULL,
  upload_date           DATETIME NOT NULL,
  archive_date          DATETIME NULL,
  delete_date           DATETIME NULL,
  backup_status         ENUM('pending','processing','backedup','duplicate','error') NOT NULL DEFAULT 'pending',
  backup_id             BIGINT UNSIGNED NULL,
  backup_date           DATETIME NULL,
  worker                VARBINARY(128) NULL,
  lease_until           DATETIME NULL,
  attempts              SMALLINT UNSIGNED NOT NULL DEFAULT 0,
  error_reason          BLOB NULL,
  downloaded_sha1       BINARY(20) NULL,
  created_at            DATETIME NOT NULL,
  updated_at            DATETIME NOT NULL,
  PRIMARY KEY (id),
  UNIQUE KEY files_version (wiki_id, title, upload_date, sha1),
  KEY files_sha1 (wiki_id, sha1),
  KEY files_sha256 (wiki_id, sha256),
  KEY files_production (wiki_id, production_container, production_path),
  KEY files_upload_date (wiki_id, upload_date),
  KEY files_archive_date (wiki_id, archive_date),
  KEY files_delete_date (wiki_id, delete_date),
  KEY files_claim (wiki_id, backup_status, lease_until),
  KEY files_mismatch (wiki_id, downloaded_sha1),
  KEY files_backup (backup_id),
  CONSTRAINT files_wiki FOREIGN KEY (wiki_id) REFERENCES wikis (id),
  CONSTRAINT files_backup FOREIGN KEY (backup_id) REFERENCES backups (id)
) ENGINE=InnoDB DEFAULT CHARSET=binary;

-- Every change of a file's metadata, with what caused it.
CREATE TABLE IF NOT EXISTS file_history (
  id          BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  file_id     BIGINT UNSIGNED NOT NULL,
  changed_at  DATETIME NOT NULL,
  source      VARBINARY(64) NOT NULL,
  field       VARBINARY(64) NOT NULL,
  old_value   VARBINARY(2048) NULL,
  new_value   VARBINARY(2048) NULL,
  PRIMARY KEY (id),
  KEY file_history_file (file_id, changed_at),
  CONSTRAINT file_history_file FOREIGN KEY (file_id) REFERENCES files (id) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=binary;
