-- +goose Up
-- Issue 21: attachments. The files themselves are in blob storage (package files), encrypted;
-- this is their metadata. blob_key names the object; kind is the definition's kind of file
-- (receipt, contract, photo...); content_type was sniffed from the bytes; task_id is set when a
-- task's output carries the file. deleted_at is set when retention (or anyone) removed the
-- object: the row stays, so the request says a file was there and when it went.
CREATE TABLE attachments (
    id           TEXT PRIMARY KEY,
    request_id   TEXT NOT NULL,
    kind         TEXT NOT NULL,
    name         TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size         BIGINT NOT NULL,
    sha256       TEXT NOT NULL,
    blob_key     TEXT NOT NULL,
    task_id      TEXT NOT NULL DEFAULT '',
    uploaded_by  TEXT NOT NULL,
    uploaded_at  TIMESTAMP NOT NULL,
    deleted_at   TIMESTAMP
);
CREATE INDEX attachments_request ON attachments (request_id, uploaded_at);

-- +goose Down
DROP TABLE attachments;
