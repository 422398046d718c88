package store_test

import (
	"context"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/esmhq/esm/catalog"
	"github.com/esmhq/esm/store"
	"github.com/esmhq/esm/store/storetest"
)

func TestReserveSubmission(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		reserve := func(requester, key string) (int64, bool) {
			t.Helper()
			sub, created, err := s.ReserveSubmission(ctx, requester, key, "fp-"+key, t0)
			if err != nil {
				t.Fatalf("reserve (%s, %s): %v", requester, key, err)
			}
			if sub.RequesterID != requester || sub.Key != key {
				t.Fatalf("reserve (%s, %s) = %+v", requester, key, sub)
			}
			return sub.Number, created
		}

		first, created := reserve("alice", "k1")
		if !created {
			t.Fatal("first reservation of (alice, k1) not created")
		}
		again, created := reserve("alice", "k1")
		if again != first || created {
			t.Fatalf("retry of (alice, k1) = %d created=%v, want %d created=false", again, created, first)
		}
		other, created := reserve("alice", "k2")
		if other <= first || !created {
			t.Fatalf("(alice, k2) = %d created=%v, want a number above %d, created", other, created, first)
		}
		bobs, created := reserve("bob", "k1")
		if bobs == first || bobs == other || !created {
			t.Fatalf("(bob, k1) = %d created=%v, want a new number, created", bobs, created)
		}

		sub, err := s.Submission(ctx, "alice", "k1")
		if err != nil || sub.Number != first || sub.Fingerprint != "fp-k1" || !sub.CreatedAt.Equal(t0) {
			t.Fatalf("Submission(alice, k1) = %+v, %v; want number %d, fingerprint fp-k1, created %v", sub, err, first, t0)
		}
		if _, err := s.Submission(ctx, "carol", "k1"); err != store.ErrNotFound {
			t.Fatalf("Submission(carol, k1): err = %v, want ErrNotFound", err)
		}
	})
}

func TestReserveSubmissionConcurrent(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		const n = 8
		type result struct {
			number  int64
			created bool
			err     error
		}
		results := make([]result, n)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				sub, created, err := s.ReserveSubmission(context.Background(), "alice", "double-click", "fp", t0)
				results[i] = result{sub.Number, created, err}
			}()
		}
		close(start)
		wg.Wait()

		createdCount := 0
		for i, r := range results {
			if r.err != nil {
				t.Fatalf("reservation %d: %v", i, r.err)
			}
			if r.number != results[0].number {
				t.Fatalf("reservation %d got number %d, reservation 0 got %d", i, r.number, results[0].number)
			}
			if r.created {
				createdCount++
			}
		}
		if createdCount != 1 {
			t.Fatalf("%d reservations say they created the submission, want exactly 1", createdCount)
		}
	})
}

// TestProjectReportsRetiring: the projection of a closed request says whether its service is
// retiring (its lifecycle waits to hear of it); an open request's, or another stage's, does not.
func TestProjectReportsRetiring(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		apply(t, s, bundle(t), t0)
		closed := func(seq int64, status string) catalog.RequestState {
			r := approved(1)
			r.Seq, r.Status, r.Stage, r.ClosedAt = seq, status, status, at(2*time.Hour)
			return r
		}
		for _, c := range []struct {
			stage string
			state catalog.RequestState
			want  store.Projected
		}{
			{catalog.StageRetiring, approved(1), store.Projected{Wrote: true}},
			{catalog.StagePublished, closed(4, catalog.StatusResolved), store.Projected{Wrote: true, ServiceStage: catalog.StagePublished}},
			{catalog.StageRetiring, closed(5, catalog.StatusCancelled), store.Projected{Wrote: true, ServiceRetiring: true, ServiceStage: catalog.StageRetiring}},
			{catalog.StageRetiring, closed(5, catalog.StatusCancelled), store.Projected{ServiceRetiring: true, ServiceStage: catalog.StageRetiring}}, // a retry
			{catalog.StageRetired, closed(6, catalog.StatusCancelled), store.Projected{Wrote: true, ServiceStage: catalog.StageRetired}},
		} {
			if err := s.SetStage(ctx, "laptop", c.stage, 1, 0, "", t0); err != nil {
				t.Fatal(err)
			}
			got, err := s.ProjectRequest(ctx, c.state)
			if err != nil {
				t.Fatal(err)
			}
			if got != c.want {
				t.Errorf("%s request (seq %d) of a %s service: %+v, want %+v", c.state.Status, c.state.Seq, c.stage, got, c.want)
			}
		}
	})
}

// TestProjectLongTimeline: a timeline longer than one insert statement takes is written whole.
func TestProjectLongTimeline(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		r := submitted(1)
		for i := len(r.Timeline); i < 1203; i++ {
			r.Timeline = append(r.Timeline, catalog.Event{Seq: i + 1, At: t0, Type: "comment", Actor: "alice", Detail: fmt.Sprint(i)})
		}
		r.Seq = int64(len(r.Timeline))
		if !project(t, s, r) {
			t.Fatal("did not write")
		}
		if n := len(events(t, s, r.ID)); n != 1203 {
			t.Fatalf("%d events stored, want 1203", n)
		}
	})
}

func TestProjectRequest(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		id := catalog.RequestID(1)
		bob, group := []string{"bob"}, []string{"service-desk"}

		// Seq 1: submitted, waiting on Bob.
		v1 := submitted(1)
		if !project(t, s, v1) {
			t.Fatal("first projection did not write")
		}
		got, err := s.Request(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		sameState(t, got, v1)
		rows, err := s.ListRequests(ctx, store.RequestFilter{Requester: "alice", Limit: 10})
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) != 1 {
			t.Fatalf("alice's requests = %+v, want 1", rows)
		}
		if r := rows[0]; r.ID != id || r.Number != 1 || r.Seq != 1 || r.Status != catalog.StatusPendingApproval ||
			r.ServiceKey != "laptop" || r.ServiceVersion != 1 || r.Department != "it" || r.Title != "Laptop for Alice Chen" ||
			!r.SubmittedAt.Equal(t0) || !r.UpdatedAt.Equal(t0) || r.ClosedAt != nil {
			t.Fatalf("alice's request = %+v", r)
		}
		inbox := pending(t, s, bob)
		if len(inbox) != 1 {
			t.Fatalf("bob's approvals = %+v, want 1", inbox)
		}
		if a := inbox[0]; a.RequestID != id || a.StepName != "manager" || a.Approver != "bob" || a.RequesterID != "alice" ||
			!a.Since.Equal(t0) || a.DueAt == nil || !a.DueAt.Equal(t0.Add(72*time.Hour)) {
			t.Fatalf("bob's approval = %+v", a)
		}
		if q := queue(t, s, group, catalog.TaskOpen); len(q) != 0 {
			t.Fatalf("open tasks before approval = %+v, want none", q)
		}
		if n := len(events(t, s, id)); n != 2 {
			t.Fatalf("%d events after seq 1, want 2", n)
		}

		// Seq 3: approved, the task open in the group's queue.
		v3 := approved(1)
		if !project(t, s, v3) {
			t.Fatal("newer projection did not write")
		}
		if inbox := pending(t, s, bob); len(inbox) != 0 {
			t.Fatalf("bob's approvals after he approved = %+v, want none", inbox)
		}
		q := queue(t, s, group, catalog.TaskOpen)
		if len(q) != 1 {
			t.Fatalf("open tasks = %+v, want 1", q)
		}
		if task := q[0]; task.ID != id+".prepare" || task.RequestID != id || task.TaskID != "prepare" || task.Group != "service-desk" ||
			task.State != catalog.TaskOpen || !task.Since.Equal(t0.Add(time.Hour)) || task.Title != "Laptop for Alice Chen" {
			t.Fatalf("open task = %+v", task)
		}
		if n := len(events(t, s, id)); n != 4 {
			t.Fatalf("%d events after seq 3, want 4", n)
		}

		// A late or replayed older state changes nothing; replaying the current one neither.
		for _, r := range []catalog.RequestState{v1, v3} {
			if project(t, s, r) {
				t.Fatalf("projecting seq %d over seq 3 wrote", r.Seq)
			}
			got, err := s.Request(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			sameState(t, got, v3)
			if inbox := pending(t, s, bob); len(inbox) != 0 {
				t.Fatalf("after replaying seq %d bob's approvals = %+v, want none", r.Seq, inbox)
			}
			if q := queue(t, s, group, catalog.TaskOpen); len(q) != 1 {
				t.Fatalf("after replaying seq %d open tasks = %+v, want 1", r.Seq, q)
			}
			ev := events(t, s, id)
			if len(ev) != 4 {
				t.Fatalf("after replaying seq %d: %d events, want 4", r.Seq, len(ev))
			}
			for i, e := range ev {
				w := v3.Timeline[i]
				if e.Seq != w.Seq || e.Type != w.Type || e.Actor != w.Actor || e.Detail != w.Detail || !e.At.Equal(w.At) {
					t.Fatalf("event %d = %+v, want %+v", i, e, w)
				}
			}
		}
		if _, err := s.Request(ctx, catalog.RequestID(2)); err != store.ErrNotFound {
			t.Fatalf("unknown request: err = %v, want ErrNotFound", err)
		}
	})
}

// sameState compares the fields of a stored request state that the API relies on.
func sameState(t *testing.T, got, want catalog.RequestState) {
	t.Helper()
	if got.ID != want.ID || got.Number != want.Number || got.Seq != want.Seq || got.Status != want.Status ||
		got.Stage != want.Stage || got.Priority != want.Priority || got.Quantity != want.Quantity ||
		got.Service != want.Service || got.Requester != want.Requester || !reflect.DeepEqual(got.Form, want.Form) {
		t.Fatalf("request = %+v\nwant %+v", got, want)
	}
	if !got.SubmittedAt.Equal(want.SubmittedAt) || !got.UpdatedAt.Equal(want.UpdatedAt) || !sameTime(got.ClosedAt, want.ClosedAt) {
		t.Fatalf("request times = submitted %v updated %v closed %v, want %v %v %v",
			got.SubmittedAt, got.UpdatedAt, got.ClosedAt, want.SubmittedAt, want.UpdatedAt, want.ClosedAt)
	}
	if len(got.Approvals) != len(want.Approvals) || len(got.Tasks) != len(want.Tasks) || len(got.Timeline) != len(want.Timeline) {
		t.Fatalf("request has %d approvals, %d tasks, %d events; want %d, %d, %d", len(got.Approvals), len(got.Tasks),
			len(got.Timeline), len(want.Approvals), len(want.Tasks), len(want.Timeline))
	}
	for i, a := range got.Approvals {
		w := want.Approvals[i]
		if a.Step != w.Step || a.Name != w.Name || a.Status != w.Status || len(a.Approvers) != len(w.Approvers) ||
			!a.OpenedAt.Equal(w.OpenedAt) || !sameTime(a.ClosedAt, w.ClosedAt) || !sameTime(a.ExpireAt, w.ExpireAt) {
			t.Fatalf("approval %d = %+v, want %+v", i, a, w)
		}
		for j, p := range a.Approvers {
			wp := w.Approvers[j]
			if p.PersonRef != wp.PersonRef || p.Decision != wp.Decision || !sameTime(p.DecidedAt, wp.DecidedAt) {
				t.Fatalf("approval %d approver %d = %+v, want %+v", i, j, p, wp)
			}
		}
	}
	for i, task := range got.Tasks {
		w := want.Tasks[i]
		if task.Ref != w.Ref || task.ID != w.ID || task.Group != w.Group || task.State != w.State || !sameTime(task.OpenedAt, w.OpenedAt) {
			t.Fatalf("task %d = %+v, want %+v", i, task, w)
		}
	}
	for i, e := range got.Timeline {
		w := want.Timeline[i]
		if e.Seq != w.Seq || e.Type != w.Type || e.Actor != w.Actor || e.Detail != w.Detail || !e.At.Equal(w.At) {
			t.Fatalf("timeline %d = %+v, want %+v", i, e, w)
		}
	}
}

func sameTime(a, b *time.Time) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Equal(*b)
}

func pending(t *testing.T, s *store.Store, people []string) []store.PendingApproval {
	t.Helper()
	out, _, err := s.PendingApprovals(context.Background(), store.InboxFilter{People: people, Limit: 50})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func queue(t *testing.T, s *store.Store, groups []string, states ...string) []store.QueuedTask {
	t.Helper()
	out, _, err := s.TaskQueue(context.Background(), store.QueueFilter{Groups: groups, States: states, Limit: 50})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func events(t *testing.T, s *store.Store, id string) []catalog.Event {
	t.Helper()
	out, err := s.Events(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestListRequests(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		for _, r := range []struct {
			number    int64
			requester string
			service   string
			status    string
		}{
			{1, "alice", "laptop", catalog.StatusPendingApproval},
			{2, "alice", "laptop", catalog.StatusInFulfilment},
			{3, "alice", "phone", catalog.StatusPendingApproval},
			{4, "bob", "laptop", catalog.StatusInFulfilment},
			{5, "alice", "phone", catalog.StatusResolved},
		} {
			st := submitted(r.number)
			st.Requester.ID, st.Service.Key, st.Status = r.requester, r.service, r.status
			st.SubmittedAt = t0.Add(time.Duration(r.number) * time.Minute)
			if catalog.Terminal(r.status) {
				closed := st.SubmittedAt.Add(time.Hour)
				st.ClosedAt = &closed
			}
			project(t, s, st)
		}

		for _, tc := range []struct {
			name   string
			filter store.RequestFilter
			want   []int64
		}{
			{"newest first", store.RequestFilter{Limit: 2}, []int64{5, 4}},
			{"next page", store.RequestFilter{Limit: 2, Before: 4}, []int64{3, 2}},
			{"last page", store.RequestFilter{Limit: 2, Before: 2}, []int64{1}},
			{"past the end", store.RequestFilter{Limit: 2, Before: 1}, []int64{}},
			{"requester", store.RequestFilter{Requester: "alice", Limit: 10}, []int64{5, 3, 2, 1}},
			{"requester, second page", store.RequestFilter{Requester: "alice", Limit: 2, Before: 3}, []int64{2, 1}},
			{"status", store.RequestFilter{Status: catalog.StatusInFulfilment, Limit: 10}, []int64{4, 2}},
			{"service", store.RequestFilter{Service: "phone", Limit: 10}, []int64{5, 3}},
			{"all filters", store.RequestFilter{Requester: "alice", Service: "laptop", Status: catalog.StatusPendingApproval, Limit: 10}, []int64{1}},
			{"no match", store.RequestFilter{Requester: "bob", Service: "phone", Limit: 10}, []int64{}},
			{"open", store.RequestFilter{Requester: "alice", Open: true, Limit: 10}, []int64{3, 2, 1}},
			{"words: the service key, any case", store.RequestFilter{Words: []string{"PHO"}, Limit: 10}, []int64{5, 3}},
			{"words: the id", store.RequestFilter{Words: []string{"req-000004"}, Limit: 10}, []int64{4}},
			{"words: the title", store.RequestFilter{Words: []string{"laptop", "alice"}, Requester: "alice", Limit: 10}, []int64{5, 3, 2, 1}},
			{"words: every one", store.RequestFilter{Words: []string{"phone", "3"}, Limit: 10}, []int64{3}},
			{"words: a wildcard is a character", store.RequestFilter{Words: []string{"%"}, Limit: 10}, []int64{}},
			{"words: an underscore too", store.RequestFilter{Words: []string{"req_"}, Limit: 10}, []int64{}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				rows, err := s.ListRequests(ctx, tc.filter)
				if err != nil {
					t.Fatal(err)
				}
				got := []int64{}
				for _, r := range rows {
					got = append(got, r.Number)
					if r.ID != catalog.RequestID(r.Number) {
						t.Errorf("row %d has id %s", r.Number, r.ID)
					}
				}
				if !reflect.DeepEqual(got, tc.want) {
					t.Fatalf("ListRequests(%+v) = %v, want %v", tc.filter, got, tc.want)
				}
			})
		}
	})
}

func TestRequestEventsAreAppendOnly(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		project(t, s, approved(1))
		id := catalog.RequestID(1)
		for _, tc := range []struct {
			stmt string
			args []any
		}{
			{`UPDATE request_events SET type = 'x'`, nil},
			{`UPDATE request_events SET detail = 'rewritten' WHERE request_id = ? AND seq = ?`, []any{id, 1}},
			{`DELETE FROM request_events`, nil},
			{`DELETE FROM request_events WHERE request_id = ? AND seq = ?`, []any{id, 4}},
		} {
			if _, err := s.DB.ExecContext(ctx, s.DB.Rebind(tc.stmt), tc.args...); err == nil {
				t.Errorf("%s: succeeded, want the append-only trigger to refuse it", tc.stmt)
			}
		}
		ev := events(t, s, id)
		if len(ev) != 4 {
			t.Fatalf("%d events left, want 4", len(ev))
		}
		for i, e := range ev {
			if w := approved(1).Timeline[i]; e.Type != w.Type || !e.At.Equal(w.At) {
				t.Fatalf("event %d = %+v, want %+v", i, e, w)
			}
		}
	})
}

func TestTimestampsRoundTripInUTC(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		if s.Dialect() == "postgres" {
			// A server whose TimeZone is not UTC (initdb picks the host's): the store's sessions
			// must still read timestamps back in UTC.
			if _, err := s.DB.ExecContext(ctx, `DO $$ BEGIN
				EXECUTE format('ALTER DATABASE %I SET timezone TO %L', current_database(), 'America/New_York');
			END $$`); err != nil {
				t.Fatal(err)
			}
			s.DB.SetMaxIdleConns(0) // new sessions from here on
			s.DB.SetMaxIdleConns(2)
		}
		// An instant with nanoseconds, given in a zone that is not UTC. Postgres keeps microseconds
		// and rounds to the nearest one, SQLite keeps nanoseconds and the store truncates neither,
		// so the sub-microsecond part is under half a microsecond: the two agree to the microsecond.
		paris := time.FixedZone("CET", 3600)
		base := time.Date(2025, 3, 14, 10, 26, 53, 123456_400, paris)

		r := approved(7)
		r.SubmittedAt, r.UpdatedAt = base, base.Add(time.Second)
		r.ClosedAt, r.DueAt = ptr(base.Add(2*time.Second)), ptr(base.Add(3*time.Second))
		r.Timeline[0].At = base.Add(4 * time.Second)
		r.Tasks[0].OpenedAt = ptr(base.Add(5 * time.Second))
		project(t, s, r)
		pr := submitted(8)
		pr.Approvals[0].OpenedAt, pr.Approvals[0].ExpireAt = base.Add(6*time.Second), ptr(base.Add(7*time.Second))
		project(t, s, pr)
		sub, _, err := s.ReserveSubmission(ctx, "alice", "k", "fp", base.Add(8*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		sub, err = s.Submission(ctx, "alice", "k")
		if err != nil {
			t.Fatal(err)
		}

		rows, err := s.ListRequests(ctx, store.RequestFilter{Limit: 10})
		if err != nil || len(rows) != 2 || rows[1].Number != 7 {
			t.Fatalf("ListRequests = %+v, %v; want requests 8 and 7", rows, err)
		}
		row := rows[1]
		ev := events(t, s, r.ID)
		tasks := queue(t, s, []string{"service-desk"}, catalog.TaskOpen)
		inbox := pending(t, s, []string{"bob"})
		if len(tasks) != 1 || len(inbox) != 1 {
			t.Fatalf("tasks = %+v, approvals = %+v; want one each", tasks, inbox)
		}

		for _, tc := range []struct {
			column string
			got    *time.Time
			offset time.Duration
		}{
			{"requests.submitted_at", &row.SubmittedAt, 0},
			{"requests.updated_at", &row.UpdatedAt, time.Second},
			{"requests.closed_at", row.ClosedAt, 2 * time.Second},
			{"requests.due_at", row.DueAt, 3 * time.Second},
			{"request_events.at", &ev[0].At, 4 * time.Second},
			{"request_tasks.since", &tasks[0].Since, 5 * time.Second},
			{"request_approvers.since", &inbox[0].Since, 6 * time.Second},
			{"request_approvers.due_at", inbox[0].DueAt, 7 * time.Second},
			{"submissions.created_at", &sub.CreatedAt, 8 * time.Second},
		} {
			if tc.got == nil {
				t.Errorf("%s is NULL", tc.column)
				continue
			}
			got := *tc.got
			want := base.Add(tc.offset)
			if _, off := got.Zone(); off != 0 {
				t.Errorf("%s = %v, not in UTC", tc.column, got)
			}
			if !got.Truncate(time.Microsecond).Equal(want.Truncate(time.Microsecond)) {
				t.Errorf("%s = %v, want %v", tc.column, got.Format(time.RFC3339Nano), want.UTC().Truncate(time.Microsecond).Format(time.RFC3339Nano))
			}
		}
	})
}

func ptr[T any](v T) *T { return &v }
