-- +goose Up
-- Issue 19, point 4: deciding from the email. An approval mail carries an Approve and a Reject
-- link, each a single-use token made for one person (person_id), deciding one step of one
-- request in their own name or, through a delegation, on behalf of principal_id. Only the
-- token's SHA-256 is kept (hex): a copy of this table decides nothing. used_at is set when the
-- link's POST decides (before the decision is sent, so a double POST decides once).
CREATE TABLE decision_links (
    token_hash      TEXT PRIMARY KEY,
    request_id      TEXT NOT NULL,
    step            INTEGER NOT NULL,
    person_id       TEXT NOT NULL,
    principal_id    TEXT NOT NULL,
    decision        TEXT NOT NULL,
    notification_id TEXT NOT NULL DEFAULT '',
    created_at      TIMESTAMP NOT NULL,
    expires_at      TIMESTAMP NOT NULL,
    used_at         TIMESTAMP,
    outcome         TEXT NOT NULL DEFAULT ''
);
CREATE INDEX decision_links_request ON decision_links (request_id, step);

-- +goose Down
DROP TABLE decision_links;
