-- +goose Up
-- A claim on an Idempotency-Key (status 0) holds until expires_at: a call whose holder vanished
-- (a crash, a deploy, a lost release) is taken over by a retry with the same body after that.
ALTER TABLE idempotent_calls ADD COLUMN expires_at TIMESTAMP;
-- holder names the call that holds a claim: only it records the answer or releases the claim.
ALTER TABLE idempotent_calls ADD COLUMN holder TEXT;
UPDATE idempotent_calls SET expires_at = created_at WHERE status = 0;

-- +goose Down
ALTER TABLE idempotent_calls DROP COLUMN holder;
ALTER TABLE idempotent_calls DROP COLUMN expires_at;
