package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/esmhq/esm/store"
	"github.com/esmhq/esm/store/storetest"
)

// TestDirectoryChangesUnstarted (issue 22, both databases): a recorded change stays unstarted
// until MarkChangeStarted, oldest first; marking twice keeps the first instant; an identity
// provider's retry (the same key recorded again) neither records a second row nor makes a
// started change unstarted.
func TestDirectoryChangesUnstarted(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		left := store.DirectoryChange{Key: "left/tara/1", Person: "tara", Kind: store.ChangeLeft, Detail: "deactivated", At: t0}
		moved := store.DirectoryChange{Key: "moved/alice/2", Person: "alice", Kind: store.ChangeMoved, Detail: "manager bob -> carol", At: t0.Add(time.Second)}
		for _, c := range []store.DirectoryChange{moved, left} {
			if created, err := s.RecordChange(ctx, c); err != nil || !created {
				t.Fatalf("record %s: %v %v", c.Key, created, err)
			}
		}
		got, err := s.UnstartedChanges(ctx, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 || got[0] != left || got[1] != moved {
			t.Fatalf("unstarted = %+v, want [left moved]", got)
		}
		if got, _ := s.UnstartedChanges(ctx, 1); len(got) != 1 || got[0].Key != left.Key {
			t.Errorf("limit 1 = %+v", got)
		}
		if err := s.MarkChangeStarted(ctx, left.Key, t0.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		if err := s.MarkChangeStarted(ctx, left.Key, t0.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		if created, err := s.RecordChange(ctx, left); err != nil || created {
			t.Errorf("retry recorded again: %v %v", created, err)
		}
		got, err = s.UnstartedChanges(ctx, 10)
		if err != nil || len(got) != 1 || got[0] != moved {
			t.Errorf("after marking left: %+v %v", got, err)
		}
		var startedAt int64
		if err := s.DB.GetContext(ctx, &startedAt, s.DB.Rebind(`SELECT started_at FROM directory_changes WHERE key = ?`), left.Key); err != nil {
			t.Fatal(err)
		}
		if want := t0.Add(time.Minute).UnixMicro(); startedAt != want {
			t.Errorf("started_at = %d, want the first mark %d", startedAt, want)
		}
		if err := s.MarkChangeStarted(ctx, "left/nobody/0", t0); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("unknown key: %v, want ErrNotFound", err)
		}
	})
}
