-- +goose Up
-- Reads never advertise what the workflow refuses (issue 16).
-- updated_us orders projections with seq: (updated_us, seq), the state's UpdatedAt in Unix
-- microseconds first. A state projected by a workflow task that was never committed (a worker
-- killed, a task timed out) is replaced by the first state of the timeline that was, even at
-- the same or a lower seq, and a late write of the lost one is refused. 0 on rows written
-- before it: those compare by seq alone until their next write.
ALTER TABLE requests ADD COLUMN updated_us BIGINT NOT NULL DEFAULT 0;
-- actionable is catalog.TaskState.Actionable: a member of the group may act on the task now
-- (the task validators' own predicate, catalog.RequestState.TaskRefusal). The queue lists open
-- and claimed tasks only when actionable. Existing rows are derived by the same rule.
ALTER TABLE request_tasks ADD COLUMN actionable BOOLEAN NOT NULL DEFAULT FALSE;
UPDATE request_tasks SET actionable = (state IN ('open', 'claimed') AND NOT EXISTS (
    SELECT 1 FROM requests r WHERE r.id = request_tasks.request_id AND r.status = 'waiting_on_requester'));

-- +goose Down
ALTER TABLE request_tasks DROP COLUMN actionable;
ALTER TABLE requests DROP COLUMN updated_us;
