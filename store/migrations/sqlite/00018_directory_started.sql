-- +goose Up
-- Issue 22: a recorded directory change whose DirectoryChange workflow was not started (Temporal
-- was down at the SCIM call, or `esm catalog apply` recorded it without a Temporal client) is
-- started by the worker's sweep (worker.Reconciler.StartDirectoryChanges). started_at is when
-- the workflow was started, or found started before (Unix microseconds); 0 = not yet. Rows
-- recorded before this migration are 0: the sweep hands each over once, and a change whose
-- workflow ran already is only marked (its workflow id may not be reused).
ALTER TABLE directory_changes ADD COLUMN started_at BIGINT NOT NULL DEFAULT 0;
CREATE INDEX directory_changes_unstarted ON directory_changes (started_at, at);

-- +goose Down
DROP INDEX directory_changes_unstarted;
ALTER TABLE directory_changes DROP COLUMN started_at;
