package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/esmhq/esm/store"
	"github.com/esmhq/esm/store/storetest"
)

// TestIdempotencyClaimLease: a claim whose holder vanished (never finished, never released) is
// taken over by a call with the same body once its lease has run out, and not before; a call
// with another body never takes it over; an answered call is never taken over.
func TestIdempotencyClaimLease(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		t0 := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
		lease := time.Minute
		first, ok, err := s.BeginCall(ctx, "alice", "POST /x", "k1", "fp", t0, lease)
		if err != nil || !ok || first.Holder == "" {
			t.Fatalf("first claim: %v %+v %v", ok, first, err)
		}
		// The holder vanishes. Within the lease the key stays claimed.
		prev, ok, err := s.BeginCall(ctx, "alice", "POST /x", "k1", "fp", t0.Add(30*time.Second), lease)
		if err != nil || ok || prev.Status != 0 {
			t.Fatalf("within the lease: claimed %v, %+v, %v", ok, prev, err)
		}
		// After it, another body does not take it over; the same body does, once.
		if prev, ok, err := s.BeginCall(ctx, "alice", "POST /x", "k1", "other", t0.Add(2*time.Minute), lease); err != nil || ok || prev.Fingerprint != "fp" {
			t.Fatalf("another body after the lease: claimed %v, %+v, %v", ok, prev, err)
		}
		second, ok, err := s.BeginCall(ctx, "alice", "POST /x", "k1", "fp", t0.Add(2*time.Minute), lease)
		if err != nil || !ok || second.Holder == first.Holder {
			t.Fatalf("after the lease: claimed %v, %+v, %v", ok, second, err)
		}
		// The first holder comes back after all: it may neither release nor answer the claim
		// the retry took over.
		for _, status := range []int{0, 201} {
			if err := s.FinishCall(ctx, "alice", "POST /x", "k1", first.Holder, status, []byte(`{"stale":true}`)); !errors.Is(err, store.ErrNotHolder) {
				t.Fatalf("the stale holder finishing with %d: %v, want ErrNotHolder", status, err)
			}
		}
		if _, ok, err := s.BeginCall(ctx, "alice", "POST /x", "k1", "fp", t0.Add(2*time.Minute+time.Second), lease); err != nil || ok {
			t.Fatalf("the new claim holds: claimed %v, %v", ok, err)
		}
		if err := s.FinishCall(ctx, "alice", "POST /x", "k1", second.Holder, 200, []byte(`{"ok":true}`)); err != nil {
			t.Fatal(err)
		}
		prev, ok, err = s.BeginCall(ctx, "alice", "POST /x", "k1", "fp", t0.Add(time.Hour), lease)
		if err != nil || ok || prev.Status != 200 || prev.Body != `{"ok":true}` {
			t.Fatalf("an answered call: claimed %v, %+v, %v", ok, prev, err)
		}
	})
}
