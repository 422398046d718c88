-- +goose Up
-- The service's stage (draft, review, published, deprecated, retiring, retired), written by its
-- lifecycle workflow; the version under edit or review; the successor named at retirement.
ALTER TABLE services ADD COLUMN stage TEXT NOT NULL DEFAULT 'published';
ALTER TABLE services ADD COLUMN draft_version INTEGER NOT NULL DEFAULT 0;
ALTER TABLE services ADD COLUMN successor TEXT NOT NULL DEFAULT '';
CREATE INDEX requests_service_status ON requests (service_key, status);

-- +goose Down
DROP INDEX requests_service_status;
ALTER TABLE services DROP COLUMN successor;
ALTER TABLE services DROP COLUMN draft_version;
ALTER TABLE services DROP COLUMN stage;
