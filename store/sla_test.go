package store_test

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/esmhq/esm/catalog"
	"github.com/esmhq/esm/store"
	"github.com/esmhq/esm/store/storetest"
)

// slaCases are closed (and open) requests of every kind, with what attainment counts them as.
func slaCases() []struct {
	state catalog.RequestState
	want  string
} {
	yes, no := true, false
	clocks := func(met *bool, breached, paused bool) []catalog.SLAClock {
		res := catalog.SLAClock{Name: catalog.ClockResolution, Target: catalog.Duration(8 * time.Hour), Met: met, Breached: breached, Paused: paused, StoppedAt: at(3 * time.Hour)}
		return []catalog.SLAClock{{Name: catalog.ClockResponse, Target: catalog.Duration(time.Hour), Met: &yes, StoppedAt: at(time.Hour)}, res}
	}
	n := int64(100)
	mk := func(status string, sla []catalog.SLAClock) catalog.RequestState {
		n++
		r := approved(n)
		r.Seq, r.Status, r.Stage, r.SLA = 10, status, status, sla
		if catalog.Terminal(status) {
			r.ClosedAt = at(3 * time.Hour)
		}
		return r
	}
	return []struct {
		state catalog.RequestState
		want  string
	}{
		{mk(catalog.StatusResolved, clocks(&yes, false, false)), store.SLAMet},
		{mk(catalog.StatusResolved, clocks(&no, true, false)), store.SLAMissed},
		{mk(catalog.StatusResolved, clocks(&no, false, false)), store.SLAMissed},    // over its target, stopped before the breach fired
		{mk(catalog.StatusRejected, clocks(&yes, false, false)), store.SLAExcluded}, // no verdict: was "met"
		{mk(catalog.StatusCancelled, clocks(&yes, false, true)), store.SLAExcluded}, // closed while paused: was left out
		{mk(catalog.StatusCancelled, clocks(&no, true, false)), store.SLAMissed},    // breached before the withdrawal
		{mk(catalog.StatusFailed, clocks(&yes, false, false)), store.SLAMissed},     // was "met"
		{mk(catalog.StatusResolved, clocks(&yes, false, true)), store.SLAMet},       // closed while paused: was left out
		{mk(catalog.StatusResolved, nil), ""},                                       // no clocks
		{mk(catalog.StatusInFulfilment, clocks(nil, false, false)), ""},             // open
	}
}

// TestSLAAttainment (issue 15 §4): attainment counts the requests whose clocks ran, each once,
// by the verdict of the resolution clock: rejected and cancelled requests that did not breach
// are no verdict (not "met"), failed ones missed, and requests closed while paused count.
func TestSLAAttainment(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		apply(t, s, bundle(t), t0)
		for _, c := range slaCases() {
			if got := store.SLAOutcome(c.state); got != c.want {
				t.Errorf("%s request %s: outcome %q, want %q", c.state.Status, c.state.ID, got, c.want)
			}
			if _, err := s.ProjectRequest(ctx, c.state); err != nil {
				t.Fatal(err)
			}
		}
		// A state projected twice counts once.
		if _, err := s.ProjectRequest(ctx, slaCases()[0].state); err != nil {
			t.Fatal(err)
		}
		rows, err := s.SLAAttainment(ctx, t0, t0.Add(24*time.Hour), "")
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) != 1 {
			t.Fatalf("rows: %+v", rows)
		}
		r := rows[0]
		if r.Closed != 8 || r.Met != 2 || r.Breached != 4 || r.Excluded != 2 || r.Percent == nil || *r.Percent < 33.3 || *r.Percent > 33.4 {
			t.Errorf("attainment: %+v (percent %v), want 8 closed: 2 met, 4 breached, 2 excluded, 33.3%%", r, r.Percent)
		}
	})
}

// TestSLAOutcomeMigration: the migration that added sla_outcome derives the closed rows written
// before it by the same rule as SLAOutcome.
func TestSLAOutcomeMigration(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		apply(t, s, bundle(t), t0)
		cases := slaCases()
		for _, c := range cases {
			if _, err := s.ProjectRequest(ctx, c.state); err != nil {
				t.Fatal(err)
			}
		}
		dialect := "sqlite"
		if s.DB.DriverName() == "postgres" {
			dialect = "postgres"
		}
		src, err := os.ReadFile("migrations/" + dialect + "/00009_sla_outcome.sql")
		if err != nil {
			t.Fatal(err)
		}
		up, _, _ := strings.Cut(string(src), "-- +goose Down")
		update := up[strings.Index(up, "UPDATE requests"):]
		update = strings.TrimSpace(update[:strings.LastIndex(update, ";")])
		if _, err := s.DB.ExecContext(ctx, `UPDATE requests SET sla_outcome = NULL`); err != nil {
			t.Fatal(err)
		}
		if _, err := s.DB.ExecContext(ctx, update); err != nil {
			t.Fatalf("%s: %v", update, err)
		}
		for _, c := range cases {
			var got *string
			if err := s.DB.GetContext(ctx, &got, s.DB.Rebind(`SELECT sla_outcome FROM requests WHERE id = ?`), c.state.ID); err != nil {
				t.Fatal(err)
			}
			want := c.want
			if c.state.ClosedAt != nil && len(c.state.SLA) == 0 {
				want = "" // NULL: no resolution clock
			}
			if (got == nil && want != "") || (got != nil && *got != want) {
				t.Errorf("%s request %s: migrated outcome %v, want %q", c.state.Status, c.state.ID, got, want)
			}
		}
	})
}
