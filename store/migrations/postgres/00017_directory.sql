-- +goose Up
-- Issue 22: the directory is provisioned over SCIM 2.0 as well as from the YAML. A person who
-- leaves is deactivated (active = 0) or removed (left_at, Unix microseconds): either way every
-- reader of the directory (sign-in, approver resolution, groups, roles) stops seeing them, and
-- their row stays for the names on past requests. external_id is the identity provider's id;
-- modified_at (Unix microseconds) is meta.lastModified and the resource's version.
ALTER TABLE people ADD COLUMN active INTEGER NOT NULL DEFAULT 1;
ALTER TABLE people ADD COLUMN left_at BIGINT NOT NULL DEFAULT 0;
ALTER TABLE people ADD COLUMN external_id TEXT NOT NULL DEFAULT '';
ALTER TABLE people ADD COLUMN given_name TEXT NOT NULL DEFAULT '';
ALTER TABLE people ADD COLUMN family_name TEXT NOT NULL DEFAULT '';
ALTER TABLE people ADD COLUMN created_at BIGINT NOT NULL DEFAULT 0;
ALTER TABLE people ADD COLUMN modified_at BIGINT NOT NULL DEFAULT 0;
ALTER TABLE org_groups ADD COLUMN external_id TEXT NOT NULL DEFAULT '';
ALTER TABLE org_groups ADD COLUMN modified_at BIGINT NOT NULL DEFAULT 0;
-- A service whose owner left, flagged to the department head until someone takes it over.
ALTER TABLE services ADD COLUMN owner_left TEXT NOT NULL DEFAULT '';
-- One row per change of a person that affects requests in flight (left, moved), keyed so that
-- an identity provider's retry of the same change records (and starts) nothing twice.
CREATE TABLE directory_changes (
    key        TEXT PRIMARY KEY,
    person_id  TEXT NOT NULL,
    kind       TEXT NOT NULL,
    detail     TEXT NOT NULL DEFAULT '',
    at         TIMESTAMP NOT NULL
);

-- +goose Down
DROP TABLE directory_changes;
ALTER TABLE services DROP COLUMN owner_left;
ALTER TABLE org_groups DROP COLUMN modified_at;
ALTER TABLE org_groups DROP COLUMN external_id;
ALTER TABLE people DROP COLUMN modified_at;
ALTER TABLE people DROP COLUMN created_at;
ALTER TABLE people DROP COLUMN family_name;
ALTER TABLE people DROP COLUMN given_name;
ALTER TABLE people DROP COLUMN external_id;
ALTER TABLE people DROP COLUMN left_at;
ALTER TABLE people DROP COLUMN active;
