-- +goose Up
-- Issue 19, point 3 and 5: how a person gets reminders (immediate, or a daily digest), chat
-- channels of departments and groups, and the reminders waiting for a person's digest.
ALTER TABLE people ADD COLUMN reminders TEXT NOT NULL DEFAULT 'immediate';
ALTER TABLE departments ADD COLUMN chat TEXT NOT NULL DEFAULT '';
ALTER TABLE org_groups ADD COLUMN chat TEXT NOT NULL DEFAULT '';
-- One row per reminder a digest person did not get by mail; digest_id is the digest that
-- took it (empty until then): digest.<person>.<YYYY-MM-DD>, its mail's sent-log id.
CREATE TABLE digest_items (
    notification_id TEXT NOT NULL,
    person_id       TEXT NOT NULL,
    request_id      TEXT NOT NULL DEFAULT '',
    kind            TEXT NOT NULL DEFAULT '',
    subject         TEXT NOT NULL,
    body            TEXT NOT NULL DEFAULT '',
    at              TIMESTAMPTZ NOT NULL,
    digest_id       TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (notification_id, person_id)
);
CREATE INDEX digest_items_person ON digest_items (person_id, digest_id);

-- +goose Down
DROP TABLE digest_items;
ALTER TABLE org_groups DROP COLUMN chat;
ALTER TABLE departments DROP COLUMN chat;
ALTER TABLE people DROP COLUMN reminders;
