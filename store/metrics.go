package store

import (
	"context"
	"fmt"
)

// Figures are the business figures the read model gives /metrics.
type Figures struct {
	// Submitted counts requests by service and department (requests are never deleted, so it
	// only grows).
	Submitted []Count
	// Open counts requests not closed, by status and department.
	Open []Count
	// PendingApprovals counts approvers waiting to decide.
	PendingApprovals int
	// SLAEvents counts sla.warning and sla.breached audit events (append-only).
	SLAEvents []Count
}

// Count is one labelled number.
type Count struct {
	A string `db:"a"`
	B string `db:"b"`
	N int    `db:"n"`
}

// Figures reads the business figures.
func (s *Store) Figures(ctx context.Context) (Figures, error) {
	var f Figures
	if err := s.DB.SelectContext(ctx, &f.Submitted, `SELECT service_key AS a, department AS b, COUNT(*) AS n
		FROM requests GROUP BY service_key, department ORDER BY 1, 2`); err != nil {
		return f, fmt.Errorf("figures: %w", err)
	}
	if err := s.DB.SelectContext(ctx, &f.Open, s.DB.Rebind(`SELECT status AS a, department AS b, COUNT(*) AS n
		FROM requests WHERE closed_at IS NULL GROUP BY status, department ORDER BY 1, 2`)); err != nil {
		return f, fmt.Errorf("figures: %w", err)
	}
	if err := s.DB.GetContext(ctx, &f.PendingApprovals, s.DB.Rebind(`SELECT COUNT(*) FROM request_approvers a
		JOIN requests r ON r.id = a.request_id WHERE a.awaiting AND r.status = 'pending_approval'`)); err != nil {
		return f, fmt.Errorf("figures: %w", err)
	}
	if err := s.DB.SelectContext(ctx, &f.SLAEvents, `SELECT type AS a, '' AS b, COUNT(*) AS n FROM request_events
		WHERE type IN ('sla.warning', 'sla.breached') GROUP BY type ORDER BY 1`); err != nil {
		return f, fmt.Errorf("figures: %w", err)
	}
	return f, nil
}
