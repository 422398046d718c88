-- +goose Up
-- Answers to state-changing calls made with an Idempotency-Key, replayed on a repeat. status 0
-- marks a call still in progress.
CREATE TABLE idempotent_calls (
    principal   TEXT NOT NULL,
    call        TEXT NOT NULL,
    key         TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    status      INTEGER NOT NULL,
    body        TEXT NOT NULL DEFAULT '',
    created_at  TIMESTAMP NOT NULL,
    PRIMARY KEY (principal, call, key)
);

-- +goose Down
DROP TABLE idempotent_calls;
