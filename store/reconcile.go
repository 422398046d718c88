package store

import (
	"context"
	"fmt"
	"time"
)

// OldestOpenRequest is when the oldest request the read model shows open was submitted, or nil
// when none is open. The reconciler of closed workflows looks no further back than this.
func (s *Store) OldestOpenRequest(ctx context.Context) (*time.Time, error) {
	var at []time.Time
	if err := s.DB.SelectContext(ctx, &at, `SELECT submitted_at FROM requests WHERE closed_at IS NULL ORDER BY number LIMIT 1`); err != nil {
		return nil, fmt.Errorf("oldest open request: %w", err)
	}
	if len(at) == 0 {
		return nil, nil
	}
	t := at[0].UTC()
	return &t, nil
}
