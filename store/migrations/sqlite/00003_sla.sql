-- +goose Up
-- A department's business calendar and notification webhook, as JSON.
ALTER TABLE departments ADD COLUMN calendar TEXT NOT NULL DEFAULT '{}';
ALTER TABLE departments ADD COLUMN webhook TEXT NOT NULL DEFAULT '';
-- The resolution clock of each request, for queues, reports and breach lists.
ALTER TABLE requests ADD COLUMN due_at TIMESTAMP;
ALTER TABLE requests ADD COLUMN breached BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE requests ADD COLUMN escalation_level INTEGER NOT NULL DEFAULT 0;
CREATE INDEX requests_closed ON requests (closed_at);

-- +goose Down
DROP INDEX requests_closed;
ALTER TABLE requests DROP COLUMN escalation_level;
ALTER TABLE requests DROP COLUMN breached;
ALTER TABLE requests DROP COLUMN due_at;
ALTER TABLE departments DROP COLUMN webhook;
ALTER TABLE departments DROP COLUMN calendar;
