-- +goose Up
-- The inbox and home read a person's open work, not their history (docs/BENCHMARKS.md).
-- awaiting: the approver's decision is awaited now: the row is pending and its request is
-- pending approval or waiting on the requester (store.approverRows derives it with the row, in
-- the transaction that writes the request's status). A withdrawn, rejected or failed request
-- keeps its open step pending in its state; awaiting is false on its rows. The inbox reads
-- awaiting rows only, through a partial index in its order, so its cost is the page, not the
-- approver's backlog: before it, the inbox filtered the request's status after the join, which
-- the planner of Postgres cannot estimate from either table (it guessed a fifth of the rows
-- passed, read every pending row of the approver and sorted them).
ALTER TABLE request_approvers ADD COLUMN awaiting BOOLEAN NOT NULL DEFAULT FALSE;
UPDATE request_approvers SET awaiting = TRUE WHERE status = 'pending' AND EXISTS (
    SELECT 1 FROM requests r WHERE r.id = request_approvers.request_id AND r.status IN ('pending_approval', 'waiting_on_requester'));
CREATE INDEX request_approvers_awaiting ON request_approvers (person_id, since, request_id) WHERE awaiting;
DROP INDEX request_approvers_pending;
-- Home's questions waiting on the requester (and my requests by status) walk the requester's
-- requests in that status; home's open requests walk the requester's open ones: neither reads
-- the requester's closed history to find that nothing waits.
CREATE INDEX requests_requester_status ON requests (requester_id, status, number DESC);
CREATE INDEX requests_requester_open ON requests (requester_id, number DESC) WHERE closed_at IS NULL;

-- +goose Down
DROP INDEX requests_requester_open;
DROP INDEX requests_requester_status;
CREATE INDEX request_approvers_pending ON request_approvers (person_id, since, request_id) WHERE status = 'pending';
DROP INDEX request_approvers_awaiting;
ALTER TABLE request_approvers DROP COLUMN awaiting;
