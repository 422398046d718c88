package store

import (
	"context"
	"fmt"
	"time"
)

// IdempotentCall is the recorded answer to one (principal, call, Idempotency-Key).
type IdempotentCall struct {
	Fingerprint string `db:"fingerprint"`
	Status      int    `db:"status"` // 0 while the first call is in progress
	Body        string `db:"body"`
}

// BeginCall claims (principal, call, key) for a first call, for lease: until now+lease the claim
// is the caller's. If the key was claimed before, it returns what is recorded and
// claimed=false, unless the earlier claim is still unanswered and its lease has run out (its
// holder crashed, was deployed away or could not release it): then a call with the same body
// takes the claim over.
func (s *Store) BeginCall(ctx context.Context, principal, call, key, fingerprint string, now time.Time, lease time.Duration) (IdempotentCall, bool, error) {
	now = now.UTC()
	res, err := s.DB.ExecContext(ctx, s.DB.Rebind(`INSERT INTO idempotent_calls (principal, call, key, fingerprint, status, created_at, expires_at)
		VALUES (?, ?, ?, ?, 0, ?, ?) ON CONFLICT (principal, call, key) DO NOTHING`), principal, call, key, fingerprint, now, now.Add(lease))
	if err != nil {
		return IdempotentCall{}, false, fmt.Errorf("claim idempotency key: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 1 {
		return IdempotentCall{Fingerprint: fingerprint}, true, nil
	}
	res, err = s.DB.ExecContext(ctx, s.DB.Rebind(`UPDATE idempotent_calls SET created_at = ?, expires_at = ?
		WHERE principal = ? AND call = ? AND key = ? AND fingerprint = ? AND status = 0
		  AND (expires_at IS NULL OR expires_at <= ?)`), now, now.Add(lease), principal, call, key, fingerprint, now)
	if err != nil {
		return IdempotentCall{}, false, fmt.Errorf("take over idempotency key: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 1 {
		return IdempotentCall{Fingerprint: fingerprint}, true, nil
	}
	var c IdempotentCall
	err = s.DB.GetContext(ctx, &c, s.DB.Rebind(`SELECT fingerprint, status, body FROM idempotent_calls
		WHERE principal = ? AND call = ? AND key = ?`), principal, call, key)
	if err != nil {
		return IdempotentCall{}, false, fmt.Errorf("read idempotent answer: %w", err)
	}
	return c, false, nil
}

// FinishCall records the answer of a claimed call; a failed call (status 0 passed) releases the
// claim so the caller may try again.
func (s *Store) FinishCall(ctx context.Context, principal, call, key string, status int, body []byte) error {
	var err error
	if status == 0 {
		_, err = s.DB.ExecContext(ctx, s.DB.Rebind(`DELETE FROM idempotent_calls WHERE principal = ? AND call = ? AND key = ? AND status = 0`), principal, call, key)
	} else {
		_, err = s.DB.ExecContext(ctx, s.DB.Rebind(`UPDATE idempotent_calls SET status = ?, body = ?, expires_at = NULL WHERE principal = ? AND call = ? AND key = ?`),
			status, string(body), principal, call, key)
	}
	if err != nil {
		return fmt.Errorf("record idempotent answer: %w", err)
	}
	return nil
}
