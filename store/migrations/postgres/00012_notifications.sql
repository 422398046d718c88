-- +goose Up
-- Issue 19: who is told what. A fulfiller group may have an address of its own (a shared
-- mailbox); without one, its members are mailed one by one.
ALTER TABLE org_groups ADD COLUMN email TEXT NOT NULL DEFAULT '';
-- The sent-log: one row per notification and recipient (a person id, or group:<key> for a
-- group's own address), written after the mail went out (status sent) or when the recipient has
-- no address (status no_address, reported once to the operators' log and not retried). The
-- notify activity reads it before sending, so a retried activity mails nobody twice.
CREATE TABLE sent_notifications (
    notification_id TEXT NOT NULL,
    recipient       TEXT NOT NULL,
    request_id      TEXT NOT NULL DEFAULT '',
    kind            TEXT NOT NULL DEFAULT '',
    address         TEXT NOT NULL DEFAULT '',
    status          TEXT NOT NULL,
    detail          TEXT NOT NULL DEFAULT '',
    at              TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (notification_id, recipient)
);
CREATE INDEX sent_notifications_request ON sent_notifications (request_id);

-- +goose Down
DROP TABLE sent_notifications;
ALTER TABLE org_groups DROP COLUMN email;
