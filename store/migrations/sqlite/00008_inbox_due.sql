-- +goose Up
-- What a pending approval's due_at is: the step's next deadline that has not fired, a
-- reminder, an escalation or the expiry (due_at was the expiry, else the escalation). Rows of
-- open requests are derived again from their stored state after this migration (store.Migrate).
ALTER TABLE request_approvers ADD COLUMN due TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE request_approvers DROP COLUMN due;
