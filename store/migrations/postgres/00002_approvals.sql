-- +goose Up
-- Out-of-office delegation: person_id's approvals may be decided by delegate_id between the two
-- instants.
CREATE TABLE delegations (
    id          BIGSERIAL PRIMARY KEY,
    person_id   TEXT NOT NULL,
    delegate_id TEXT NOT NULL,
    starts_at   TIMESTAMPTZ NOT NULL,
    ends_at     TIMESTAMPTZ NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL
);
CREATE INDEX delegations_delegate ON delegations (delegate_id, ends_at);
CREATE INDEX delegations_person ON delegations (person_id, ends_at);

-- When a pending approval is due (its step escalates or expires).
ALTER TABLE request_approvers ADD COLUMN due_at TIMESTAMPTZ;

-- +goose Down
ALTER TABLE request_approvers DROP COLUMN due_at;
DROP TABLE delegations;
