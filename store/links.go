package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"time"
)

// DecisionLink is an approval mail's Approve or Reject link (issue 19, point 4): a single-use
// token made for one person, deciding one step of one request, in their own name or (through a
// delegation) on behalf of Principal. The store keeps only the token's SHA-256; the token itself
// is in the mail and nowhere else.
type DecisionLink struct {
	Hash    string `db:"token_hash"`
	Request string `db:"request_id"`
	// Step is the step's number in the request (catalog.ApprovalState.Step).
	Step int `db:"step"`
	// Person is whom the link was made for (the mail's recipient); Principal is the approver
	// whose decision it makes: Person themselves, or whoever delegated to them.
	Person    string `db:"person_id"`
	Principal string `db:"principal_id"`
	// Decision is what the link proposes: approve or reject.
	Decision     string     `db:"decision"`
	Notification string     `db:"notification_id"`
	CreatedAt    time.Time  `db:"created_at"`
	ExpiresAt    time.Time  `db:"expires_at"`
	UsedAt       *time.Time `db:"used_at"`
	// Outcome says what its use did ("approved", "rejected"), once used.
	Outcome string `db:"outcome"`
}

// LinkTokenBytes is how much randomness a link's token carries: 32 bytes (256 bits).
const LinkTokenBytes = 32

// LinkTokenHash is what the store keeps of a token: its SHA-256, in hex.
func LinkTokenHash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// CreateDecisionLink makes a new token for l (its Hash is ignored), stores its hash and returns
// the token (base64url, 43 characters), which is to go into one mail and nowhere else.
func (s *Store) CreateDecisionLink(ctx context.Context, l DecisionLink) (string, error) {
	b := make([]byte, LinkTokenBytes)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("link token: %w", err)
	}
	token := base64.RawURLEncoding.EncodeToString(b)
	_, err := s.DB.ExecContext(ctx, s.DB.Rebind(`INSERT INTO decision_links
		(token_hash, request_id, step, person_id, principal_id, decision, notification_id, created_at, expires_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`),
		LinkTokenHash(token), l.Request, l.Step, l.Person, l.Principal, l.Decision, l.Notification, l.CreatedAt.UTC(), l.ExpiresAt.UTC())
	if err != nil {
		return "", fmt.Errorf("store decision link for %s on %s: %w", l.Person, l.Request, err)
	}
	return token, nil
}

// DecisionLinkOf returns the link a token stands for, or ErrNotFound (a token that is not one:
// malformed, never made, or made by another ESM). The lookup is by the token's hash, so how long
// it takes says nothing of the token's bytes; the hash found is compared in constant time.
func (s *Store) DecisionLinkOf(ctx context.Context, token string) (DecisionLink, error) {
	var l DecisionLink
	if len(token) != base64.RawURLEncoding.EncodedLen(LinkTokenBytes) {
		return l, ErrNotFound
	}
	hash := LinkTokenHash(token)
	err := s.DB.GetContext(ctx, &l, s.DB.Rebind(`SELECT token_hash, request_id, step, person_id, principal_id, decision,
		notification_id, created_at, expires_at, used_at, outcome FROM decision_links WHERE token_hash = ?`), hash)
	if err != nil {
		return DecisionLink{}, notFound(err)
	}
	if subtle.ConstantTimeCompare([]byte(l.Hash), []byte(hash)) != 1 {
		return DecisionLink{}, ErrNotFound
	}
	return l, nil
}

// ClaimDecisionLink marks a link used at, unless it was already: it reports whether this call
// claimed it (of two concurrent calls, one does). A claim made before staleBefore whose use
// recorded no outcome (the process stopped between claiming and FinishDecisionLink or
// ReleaseDecisionLink) is taken over: pass at itself for no takeover.
func (s *Store) ClaimDecisionLink(ctx context.Context, hash string, at, staleBefore time.Time) (bool, error) {
	res, err := s.DB.ExecContext(ctx, s.DB.Rebind(`UPDATE decision_links SET used_at = ? WHERE token_hash = ?
		AND (used_at IS NULL OR (outcome = '' AND used_at < ?))`), at.UTC(), hash, staleBefore.UTC())
	if err != nil {
		return false, fmt.Errorf("claim decision link: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("claim decision link: %w", err)
	}
	return n == 1, nil
}

// FinishDecisionLink records what a claimed link's use did ("approved", "rejected").
func (s *Store) FinishDecisionLink(ctx context.Context, hash, outcome string) error {
	if _, err := s.DB.ExecContext(ctx, s.DB.Rebind(`UPDATE decision_links SET outcome = ? WHERE token_hash = ?`), outcome, hash); err != nil {
		return fmt.Errorf("finish decision link: %w", err)
	}
	return nil
}

// ReleaseDecisionLink makes a claimed link usable again: its use decided nothing (ESM failed
// before the decision reached the request), so the person may try again.
func (s *Store) ReleaseDecisionLink(ctx context.Context, hash string) error {
	if _, err := s.DB.ExecContext(ctx, s.DB.Rebind(`UPDATE decision_links SET used_at = NULL WHERE token_hash = ? AND outcome = ''`), hash); err != nil {
		return fmt.Errorf("release decision link: %w", err)
	}
	return nil
}
