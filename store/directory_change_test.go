package store_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/esmhq/esm/catalog"
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

// TestApplyRecordsLeaversAndMovers (issue 22, both databases): `esm catalog apply` records the
// changes SCIM would: a new manager or department is a mover, `active: false` a leaver (and
// deactivates). A person missing from the YAML does not leave. Applying the same YAML again
// records nothing more; a later move gets a key of its own. Each change waits for the sweep.
func TestApplyRecordsLeaversAndMovers(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		if rep := apply(t, s, bundle(t), t0); len(rep.Changes) != 0 {
			t.Fatalf("first apply recorded %v", rep.Changes)
		}
		b := bundle(t)
		off := false
		var kept []catalog.Person
		for _, p := range b.People {
			switch p.ID {
			case "alice":
				p.Manager = "ivan" // moves
			case "dave":
				p.Active = &off // leaves
			case "bob":
				continue // missing from the file: stays
			}
			kept = append(kept, p)
		}
		b.People = kept
		rep := apply(t, s, b, t0.Add(time.Hour))
		if want := []string{"moved/alice/0", "left/dave/0"}; len(rep.Changes) != 2 || rep.Changes[0] != want[0] || rep.Changes[1] != want[1] {
			t.Fatalf("changes = %v, want %v", rep.Changes, want)
		}
		got, err := s.UnstartedChanges(ctx, 10)
		if err != nil || len(got) != 2 {
			t.Fatalf("unstarted = %+v %v", got, err)
		}
		for _, c := range got {
			switch c.Key {
			case "moved/alice/0":
				if c.Kind != store.ChangeMoved || c.Detail != "manager bob -> ivan, department engineering -> engineering in the directory YAML" {
					t.Errorf("alice: %+v", c)
				}
			case "left/dave/0":
				if c.Kind != store.ChangeLeft || c.Detail != "deactivated in the directory YAML" {
					t.Errorf("dave: %+v", c)
				}
			}
		}
		if dave, err := s.DirectoryPerson(ctx, "dave"); err != nil || dave.Active {
			t.Errorf("dave still active: %+v %v", dave, err)
		}
		if _, err := s.Person(ctx, "dave"); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("dave still signs in / resolves: %v", err)
		}
		if bob, err := s.DirectoryPerson(ctx, "bob"); err != nil || !bob.Active {
			t.Errorf("bob, missing from the YAML, left: %+v %v", bob, err)
		}
		if rep := apply(t, s, b, t0.Add(2*time.Hour)); len(rep.Changes) != 0 {
			t.Errorf("the same YAML again recorded %v", rep.Changes)
		}
		// The next move of someone moved once before gets a key of its own.
		for i := range b.People {
			if b.People[i].ID == "alice" {
				b.People[i].Manager = "dave"
			}
		}
		rep = apply(t, s, b, t0.Add(3*time.Hour))
		if len(rep.Changes) != 1 || rep.Changes[0] != fmt.Sprintf("moved/alice/%d", t0.Add(time.Hour).UnixMicro()) {
			t.Errorf("second move: %v", rep.Changes)
		}
	})
}
