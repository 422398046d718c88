-- +goose Up
-- Issue 18's review: signing out of the portal ends every session of the person issued before
-- it, copies of the cookie included (a session is a sealed cookie, not a row). sessions_after
-- is that instant in Unix microseconds (0: never signed out); the portal reads it with the
-- person on every request (store.SignedIn) and refuses a session issued before it.
ALTER TABLE people ADD COLUMN sessions_after BIGINT NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE people DROP COLUMN sessions_after;
