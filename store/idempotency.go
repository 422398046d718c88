package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"time"
)

// IdempotentCall is the recorded answer to one (principal, call, Idempotency-Key).
type IdempotentCall struct {
	Fingerprint string `db:"fingerprint"`
	Status      int    `db:"status"` // 0 while the first call is in progress
	Body        string `db:"body"`
	// Holder names the claim a call holds (set when BeginCall claims): only the holder may
	// record the answer or release the claim, so a holder that outlived its lease never undoes
	// the call that took it over.
	Holder string `db:"-"`
}

// BeginCall claims (principal, call, key) for a first call, for lease: until now+lease the claim
// is the caller's. If the key was claimed before, it returns what is recorded and
// claimed=false, unless the earlier claim is still unanswered and its lease has run out (its
// holder crashed, was deployed away or could not release it): then a call with the same body
// takes the claim over.
func (s *Store) BeginCall(ctx context.Context, principal, call, key, fingerprint string, now time.Time, lease time.Duration) (IdempotentCall, bool, error) {
	now = now.UTC()
	holder := newHolder()
	res, err := s.DB.ExecContext(ctx, s.DB.Rebind(`INSERT INTO idempotent_calls (principal, call, key, fingerprint, status, created_at, expires_at, holder)
		VALUES (?, ?, ?, ?, 0, ?, ?, ?) ON CONFLICT (principal, call, key) DO NOTHING`), principal, call, key, fingerprint, now, now.Add(lease), holder)
	if err != nil {
		return IdempotentCall{}, false, fmt.Errorf("claim idempotency key: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 1 {
		return IdempotentCall{Fingerprint: fingerprint, Holder: holder}, true, nil
	}
	res, err = s.DB.ExecContext(ctx, s.DB.Rebind(`UPDATE idempotent_calls SET created_at = ?, expires_at = ?, holder = ?
		WHERE principal = ? AND call = ? AND key = ? AND fingerprint = ? AND status = 0
		  AND (expires_at IS NULL OR expires_at <= ?)`), now, now.Add(lease), holder, principal, call, key, fingerprint, now)
	if err != nil {
		return IdempotentCall{}, false, fmt.Errorf("take over idempotency key: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 1 {
		return IdempotentCall{Fingerprint: fingerprint, Holder: holder}, true, nil
	}
	var c IdempotentCall
	err = s.DB.GetContext(ctx, &c, s.DB.Rebind(`SELECT fingerprint, status, body FROM idempotent_calls
		WHERE principal = ? AND call = ? AND key = ?`), principal, call, key)
	if err != nil {
		return IdempotentCall{}, false, fmt.Errorf("read idempotent answer: %w", err)
	}
	return c, false, nil
}

// ErrNotHolder says a call's claim was taken over (its lease ran out) before it finished: its
// answer is not recorded and the claim is not released, since they belong to the call that took
// it over.
var ErrNotHolder = errors.New("the idempotency claim was taken over by a retry after its lease ran out")

// FinishCall records the answer of the call that holds the claim (holder, from BeginCall); a
// failed call (status 0 passed) releases the claim so the caller may try again. A holder whose
// claim was taken over gets ErrNotHolder and changes nothing.
func (s *Store) FinishCall(ctx context.Context, principal, call, key, holder string, status int, body []byte) error {
	return s.FinishCallAs(ctx, principal, call, key, holder, status, body, "")
}

// FinishCallAs is FinishCall that, when it records an answer, also replaces the claim's
// fingerprint with fingerprint ("" keeps it): a call whose body is only known as it streams (an
// upload: api/uploads.go) claims the key under what it knows up front and completes its
// fingerprint with the answer, so that a repeat compares with the whole of it.
func (s *Store) FinishCallAs(ctx context.Context, principal, call, key, holder string, status int, body []byte, fingerprint string) error {
	var res sql.Result
	var err error
	switch {
	case status == 0:
		res, err = s.DB.ExecContext(ctx, s.DB.Rebind(`DELETE FROM idempotent_calls WHERE principal = ? AND call = ? AND key = ? AND status = 0 AND holder = ?`),
			principal, call, key, holder)
	case fingerprint != "":
		res, err = s.DB.ExecContext(ctx, s.DB.Rebind(`UPDATE idempotent_calls SET status = ?, body = ?, expires_at = NULL, fingerprint = ?
			WHERE principal = ? AND call = ? AND key = ? AND status = 0 AND holder = ?`),
			status, string(body), fingerprint, principal, call, key, holder)
	default:
		res, err = s.DB.ExecContext(ctx, s.DB.Rebind(`UPDATE idempotent_calls SET status = ?, body = ?, expires_at = NULL
			WHERE principal = ? AND call = ? AND key = ? AND status = 0 AND holder = ?`),
			status, string(body), principal, call, key, holder)
	}
	if err != nil {
		return fmt.Errorf("record idempotent answer: %w", err)
	}
	if n, err := res.RowsAffected(); err == nil && n == 0 {
		return ErrNotHolder
	}
	return nil
}

// newHolder is a claim's random name.
func newHolder() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
