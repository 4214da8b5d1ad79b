-- 0005: what `mediabackups verify` learned about each stored object when it
-- last read it back, and the indexes verify walks.
--   verified_at    when the object was last checked (NULL: never), to the
--                  microsecond: a run skips what was checked after it
--                  started, and two runs can start within one second
--   verify_result  ok        the bytes were there and had the recorded hashes
--                  missing   the recorded server does not have the object
--                  damaged   it is there but its bytes (or its age header)
--                            do not match the recorded hashes
--                  repaired  it was missing or damaged and verify --repair
--                            stored a verified copy from production again
--                  lost      it was missing or damaged and production no
--                            longer serves its content: the only copy is lost
--   verify_detail  what was found wrong, for the operator
-- backups_verify is the order verify reads a wiki's objects in: never
-- checked first, then the longest unchecked (the resumable cursor).
-- backups_location_key lets verify walk one server's objects in key order,
-- beside the bucket's own listing, to find orphans in bounded memory.
ALTER TABLE backups
  ADD COLUMN IF NOT EXISTS verified_at DATETIME(6) NULL,
  ADD COLUMN IF NOT EXISTS verify_result ENUM('ok','missing','damaged','repaired','lost') NULL,
  ADD COLUMN IF NOT EXISTS verify_detail BLOB NULL;
CREATE INDEX IF NOT EXISTS backups_verify ON backups (wiki_id, verified_at, id);
CREATE INDEX IF NOT EXISTS backups_location_key ON backups (location_id, object_key);
