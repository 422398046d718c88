-- +goose Up
CREATE TABLE departments (
    key  TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    head TEXT NOT NULL DEFAULT ''
);

CREATE TABLE org_groups (
    key        TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    department TEXT NOT NULL
);

CREATE TABLE people (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    email      TEXT NOT NULL DEFAULT '',
    department TEXT NOT NULL,
    manager    TEXT NOT NULL DEFAULT '',
    roles      TEXT NOT NULL DEFAULT '[]',
    attributes TEXT NOT NULL DEFAULT '{}'
);

CREATE TABLE group_members (
    group_key TEXT NOT NULL,
    person_id TEXT NOT NULL,
    PRIMARY KEY (group_key, person_id)
);
CREATE INDEX group_members_person ON group_members (person_id);

CREATE TABLE services (
    key             TEXT PRIMARY KEY,
    department      TEXT NOT NULL,
    current_version INTEGER NOT NULL,
    updated_at      TIMESTAMP NOT NULL
);

CREATE TABLE service_versions (
    service_key TEXT NOT NULL REFERENCES services (key),
    version     INTEGER NOT NULL,
    hash        TEXT NOT NULL,
    definition  TEXT NOT NULL,
    created_at  TIMESTAMP NOT NULL,
    PRIMARY KEY (service_key, version)
);

-- A submission reserves a request number for (requester, Idempotency-Key) before the workflow
-- starts, so a retried or duplicated submission finds the number it already has.
CREATE TABLE submissions (
    number          INTEGER PRIMARY KEY AUTOINCREMENT,
    requester_id    TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    fingerprint     TEXT NOT NULL,
    service_key     TEXT NOT NULL DEFAULT '',
    created_at      TIMESTAMP NOT NULL,
    UNIQUE (requester_id, idempotency_key)
);
-- Limits count a requester's submissions of a service.
CREATE INDEX submissions_limits ON submissions (requester_id, service_key, created_at);

-- The read model of requests, written only by the workflow's projection activity.
CREATE TABLE requests (
    id              TEXT PRIMARY KEY,
    number          BIGINT NOT NULL UNIQUE,
    seq             BIGINT NOT NULL,
    service_key     TEXT NOT NULL,
    service_version INTEGER NOT NULL,
    department      TEXT NOT NULL,
    requester_id    TEXT NOT NULL,
    title           TEXT NOT NULL,
    status          TEXT NOT NULL,
    stage           TEXT NOT NULL,
    priority        TEXT NOT NULL,
    submitted_at    TIMESTAMP NOT NULL,
    updated_at      TIMESTAMP NOT NULL,
    closed_at       TIMESTAMP,
    state           TEXT NOT NULL
);
CREATE INDEX requests_requester ON requests (requester_id, number DESC);

CREATE TABLE request_approvers (
    request_id TEXT NOT NULL,
    step       INTEGER NOT NULL,
    person_id  TEXT NOT NULL,
    step_name  TEXT NOT NULL,
    status     TEXT NOT NULL,
    since      TIMESTAMP NOT NULL,
    PRIMARY KEY (request_id, step, person_id)
);
CREATE INDEX request_approvers_inbox ON request_approvers (person_id, status, since);

CREATE TABLE request_tasks (
    request_id TEXT NOT NULL,
    task_id    TEXT NOT NULL,
    name       TEXT NOT NULL,
    group_key  TEXT NOT NULL,
    state      TEXT NOT NULL,
    assignee   TEXT NOT NULL DEFAULT '',
    since      TIMESTAMP NOT NULL,
    PRIMARY KEY (request_id, task_id)
);
CREATE INDEX request_tasks_queue ON request_tasks (group_key, state, since);

-- The audit trail: append only. Rows are keyed by (request, seq) so a retried write adds nothing.
CREATE TABLE request_events (
    request_id TEXT NOT NULL,
    seq        INTEGER NOT NULL,
    at         TIMESTAMP NOT NULL,
    type       TEXT NOT NULL,
    actor      TEXT NOT NULL DEFAULT '',
    detail     TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (request_id, seq)
);

-- +goose StatementBegin
CREATE TRIGGER request_events_no_update BEFORE UPDATE ON request_events
BEGIN
    SELECT RAISE(ABORT, 'request_events is append-only');
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER request_events_no_delete BEFORE DELETE ON request_events
BEGIN
    SELECT RAISE(ABORT, 'request_events is append-only');
END;
-- +goose StatementEnd

-- +goose Down
DROP TABLE request_events;
DROP TABLE request_tasks;
DROP TABLE request_approvers;
DROP TABLE requests;
DROP TABLE submissions;
DROP TABLE service_versions;
DROP TABLE services;
DROP TABLE group_members;
DROP TABLE people;
DROP TABLE org_groups;
DROP TABLE departments;
