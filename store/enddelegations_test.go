package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/esmhq/esm/store"
	"github.com/esmhq/esm/store/storetest"
)

// TestEndDelegationsBeforeTheChange (issue 22, both databases): a leaver's change applied late
// (its workflow started by the sweep after the id was provisioned again for someone new) ends
// the delegations made up to the change's instant, given or received, and not one the new
// person made since: before, every delegation of the id that ran past the instant was ended,
// the new person's too. Applying it again ends nothing.
func TestEndDelegationsBeforeTheChange(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		left := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC) // the change's instant
		mk := func(person, delegate string, created time.Time) store.Delegation {
			d, err := s.CreateDelegation(ctx, store.Delegation{Person: person, Delegate: delegate,
				StartsAt: created, EndsAt: left.Add(30 * 24 * time.Hour), CreatedAt: created})
			if err != nil {
				t.Fatal(err)
			}
			return d
		}
		mk("tara", "ivan", left.Add(-48*time.Hour))        // the leaver's own
		mk("bob", "tara", left.Add(-time.Hour))            // to the leaver
		fresh := mk("tara", "dave", left.Add(2*time.Hour)) // the new tara's, after the id came back
		given := mk("bob", "tara", left.Add(3*time.Hour))  // to the new tara
		n, err := s.EndDelegations(ctx, "tara", left)
		if err != nil || n != 2 {
			t.Fatalf("EndDelegations = %d %v, want 2 (those made before the change)", n, err)
		}
		ds, err := s.Delegations(ctx, "tara", left.Add(4*time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		if len(ds) != 2 || ds[0].ID != fresh.ID || ds[1].ID != given.ID || !ds[0].EndsAt.Equal(fresh.EndsAt) {
			t.Fatalf("running after the late change = %+v, want the new tara's two, unchanged", ds)
		}
		if n, err := s.EndDelegations(ctx, "tara", left); err != nil || n != 0 {
			t.Fatalf("again: %d %v, want 0", n, err)
		}
	})
}
