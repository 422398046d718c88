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

// BeginCall claims (principal, call, key) for a first call; if it was claimed before, it
// returns what is recorded and claimed=false.
func (s *Store) BeginCall(ctx context.Context, principal, call, key, fingerprint string, now time.Time) (IdempotentCall, bool, error) {
	res, err := s.DB.ExecContext(ctx, s.DB.Rebind(`INSERT INTO idempotent_calls (principal, call, key, fingerprint, status, created_at)
		VALUES (?, ?, ?, ?, 0, ?) ON CONFLICT (principal, call, key) DO NOTHING`), principal, call, key, fingerprint, now.UTC())
	if err != nil {
		return IdempotentCall{}, false, fmt.Errorf("claim idempotency key: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 1 {
		return IdempotentCall{Fingerprint: fingerprint}, true, nil
	}
	var c IdempotentCall
	err = s.DB.GetContext(ctx, &c, s.DB.Rebind(`SELECT fingerprint, status, body FROM idempotent_calls
		WHERE principal = ? AND call = ? AND key = ?`), principal, call, key)
	return c, false, err
}

// FinishCall records the answer of a claimed call; a failed call (status 0 passed) releases the
// claim so the caller may try again.
func (s *Store) FinishCall(ctx context.Context, principal, call, key string, status int, body []byte) error {
	var err error
	if status == 0 {
		_, err = s.DB.ExecContext(ctx, s.DB.Rebind(`DELETE FROM idempotent_calls WHERE principal = ? AND call = ? AND key = ? AND status = 0`), principal, call, key)
	} else {
		_, err = s.DB.ExecContext(ctx, s.DB.Rebind(`UPDATE idempotent_calls SET status = ?, body = ? WHERE principal = ? AND call = ? AND key = ?`),
			status, string(body), principal, call, key)
	}
	if err != nil {
		return fmt.Errorf("record idempotent answer: %w", err)
	}
	return nil
}
