-- +goose Up
-- The queues and the inbox read only open work: partial indexes in the order they list it, so
-- their cost follows the open work, not every task and approval ever recorded.
CREATE INDEX request_tasks_open ON request_tasks (group_key, since, request_id, task_id) WHERE state IN ('open', 'claimed');
CREATE INDEX request_approvers_pending ON request_approvers (person_id, since, request_id) WHERE status = 'pending';
-- The inbox was the only reader of the full index; the planner no longer has it to pick wrongly.
DROP INDEX request_approvers_inbox;

-- +goose Down
CREATE INDEX request_approvers_inbox ON request_approvers (person_id, status, since);
DROP INDEX request_approvers_pending;
DROP INDEX request_tasks_open;
