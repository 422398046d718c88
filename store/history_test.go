package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/esmhq/esm/catalog"
	"github.com/esmhq/esm/store"
	"github.com/esmhq/esm/store/storetest"
)

// TestTrimmedTimeline: a state that keeps only its latest events (revision 4) appends them to
// the audit trail, and EventsBefore gives back the ones it no longer holds, so that
// MergeTimeline reads the state with every event (issue 16 §8).
func TestTrimmedTimeline(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		r := submitted(1)
		project(t, s, r)
		// The workflow trims the first two once written and goes on from seq 3.
		r = approved(1)
		r.Timeline = r.Timeline[2:]
		r.Seq++
		r.UpdatedAt = r.UpdatedAt.Add(time.Minute)
		r.Timeline = append(r.Timeline, catalog.Event{Seq: r.NextEventSeq(), At: r.UpdatedAt, Type: "comment", Actor: "alice", Detail: "thanks"})
		if !project(t, s, r) {
			t.Fatal("the trimmed state was not written")
		}
		before, err := s.EventsBefore(ctx, r.ID, r.Timeline[0].Seq)
		if err != nil {
			t.Fatal(err)
		}
		if got := fmt.Sprint(types(before)); got != "[1:submitted 2:approval_requested]" {
			t.Errorf("EventsBefore = %s", got)
		}
		stored, err := s.Request(ctx, r.ID)
		if err != nil {
			t.Fatal(err)
		}
		stored.MergeTimeline(before)
		if got, want := fmt.Sprint(types(stored.Timeline)), fmt.Sprint(types(events(t, s, r.ID))); got != want || len(stored.Timeline) != 5 {
			t.Errorf("merged %s, audit trail %s", got, want)
		}
		if n := r.NextEventSeq(); n != 6 {
			t.Errorf("next seq %d", n)
		}
	})
}

func types(evs []catalog.Event) []string {
	var out []string
	for _, e := range evs {
		out = append(out, fmt.Sprintf("%d:%s", e.Seq, e.Type))
	}
	return out
}
