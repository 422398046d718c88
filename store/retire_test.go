package store_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/esmhq/esm/catalog"
	"github.com/esmhq/esm/store"
	"github.com/esmhq/esm/store/storetest"
)

// closedState is request n resolved (seq 5).
func closedState(n int64) catalog.RequestState {
	r := approved(n)
	r.Seq = 5
	r.Status, r.Stage = catalog.StatusResolved, catalog.StatusResolved
	r.UpdatedAt = t0.Add(2 * time.Hour)
	r.ClosedAt = at(2 * time.Hour)
	r.Tasks[0].State, r.Tasks[0].ClosedAt = catalog.TaskDone, at(2*time.Hour)
	r.Timeline = append(r.Timeline, catalog.Event{Seq: 5, At: t0.Add(2 * time.Hour), Type: "resolved"})
	return r
}

func opening(t *testing.T, s *store.Store, r catalog.RequestState) string {
	t.Helper()
	p, err := s.ProjectOpening(context.Background(), r)
	if err != nil {
		t.Fatalf("project opening %s: %v", r.ID, err)
	}
	if !p.Wrote {
		t.Fatalf("project opening %s wrote nothing", r.ID)
	}
	return p.ServiceStage
}

// TestRetireFindsLateSubmission (issue 16 §5): a submission that passed the API's stage check
// before the retirement and is first written after the lifecycle listed the requests in flight
// is found by Retire, which records nothing until it has closed; a request first written after
// the service retired finds it retired.
func TestRetireFindsLateSubmission(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		apply(t, s, bundle(t), t0)
		if got := opening(t, s, submitted(1)); got != catalog.StagePublished {
			t.Fatalf("stage at the first write: %q", got)
		}
		if err := s.SetStage(ctx, "laptop", catalog.StageRetiring, 1, 0, "", t0); err != nil {
			t.Fatal(err)
		}
		listed, err := s.OpenRequests(ctx, "laptop")
		if err != nil || !slices.Equal(listed, []string{"REQ-000001"}) {
			t.Fatalf("listed %v, %v", listed, err)
		}
		if got := opening(t, s, submitted(2)); got != catalog.StageRetiring {
			t.Fatalf("the late submission read %q", got)
		}
		p, err := s.ProjectRequest(ctx, closedState(1))
		if err != nil || !p.ServiceRetiring {
			t.Fatalf("closing the listed request: %+v, %v", p, err)
		}
		open, err := s.Retire(ctx, "laptop", 1, 0, "", t0)
		if err != nil || !slices.Equal(open, []string{"REQ-000002"}) {
			t.Fatalf("retire found %v, %v; want the late submission", open, err)
		}
		if si, _ := s.Service(ctx, "laptop"); si.Stage != catalog.StageRetiring {
			t.Fatalf("stage %q while a request is open", si.Stage)
		}
		if p, err := s.ProjectRequest(ctx, closedState(2)); err != nil || !p.ServiceRetiring {
			t.Fatalf("closing the late request: %+v, %v", p, err)
		}
		open, err = s.Retire(ctx, "laptop", 1, 0, "", t0)
		if err != nil || len(open) != 0 {
			t.Fatalf("retire found %v, %v", open, err)
		}
		if si, _ := s.Service(ctx, "laptop"); si.Stage != catalog.StageRetired {
			t.Fatalf("stage %q, want retired", si.Stage)
		}
		if got := opening(t, s, submitted(3)); got != catalog.StageRetired {
			t.Fatalf("a request written after the retirement read %q", got)
		}
	})
}

// TestRetireRacesSubmissions: requests are first written while their service's lifecycle retires
// it (closing what Retire finds, as a draining lifecycle waits for it). Every request is either
// found by Retire or finds the service retired: none is left behind, on either database.
func TestRetireRacesSubmissions(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		apply(t, s, bundle(t), t0)
		if err := s.SetStage(ctx, "laptop", catalog.StageRetiring, 1, 0, "", t0); err != nil {
			t.Fatal(err)
		}
		const n = 24
		var (
			wg    sync.WaitGroup
			mu    sync.Mutex
			saw   = map[string]string{}
			found = map[string]bool{}
		)
		start := make(chan struct{})
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				r := submitted(int64(i + 1))
				p, err := s.ProjectOpening(ctx, r)
				if err != nil {
					t.Errorf("opening %s: %v", r.ID, err)
					return
				}
				mu.Lock()
				saw[r.ID] = p.ServiceStage
				mu.Unlock()
			}()
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			for {
				open, err := s.Retire(ctx, "laptop", 1, 0, "", t0)
				if err != nil {
					t.Errorf("retire: %v", err)
					return
				}
				if len(open) == 0 {
					return
				}
				for _, id := range open {
					mu.Lock()
					found[id] = true
					mu.Unlock()
					var num int64
					for _, c := range id[len("REQ-"):] {
						num = num*10 + int64(c-'0')
					}
					if _, err := s.ProjectRequest(ctx, closedState(num)); err != nil {
						t.Errorf("close %s: %v", id, err)
						return
					}
				}
			}
		}()
		close(start)
		wg.Wait()
		if len(saw) != n {
			t.Fatalf("%d of %d requests written", len(saw), n)
		}
		late := 0
		for id, stage := range saw {
			switch {
			case stage == catalog.StageRetired:
				late++
				if found[id] {
					t.Errorf("%s was found by Retire and read retired", id)
				}
			case !found[id]:
				t.Errorf("%s read %q and Retire never found it: left behind", id, stage)
			}
		}
		if si, _ := s.Service(ctx, "laptop"); si.Stage != catalog.StageRetired {
			t.Errorf("stage %q", si.Stage)
		}
		t.Logf("%d found and drained, %d found the service retired", n-late, late)
	})
}
