package store_test

import (
	"context"
	"encoding/base64"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/esmhq/esm/catalog"
	"github.com/esmhq/esm/store"
	"github.com/esmhq/esm/store/storetest"
)

// kiritimati is fourteen hours ahead of UTC: deadlines on a calendar there carry its offset.
var kiritimati = time.FixedZone("LINT", 14*3600)

// pendingOf is request n waiting on approver, opened at since.
func pendingOf(n int64, requester, approver string, since time.Time) catalog.RequestState {
	r := submitted(n)
	r.Requester.ID = requester
	r.Approvals[0].OpenedAt = since
	r.Approvals[0].Approvers[0].ID = approver
	return r
}

// inboxPages reads f's inbox a page of limit at a time, calling between after each page but the
// last, and returns the request ids in order and the page sizes.
func inboxPages(t *testing.T, s *store.Store, f store.InboxFilter, between func()) ([]string, []int) {
	t.Helper()
	var ids []string
	var sizes []int
	for range 20 {
		page, next, err := s.PendingApprovals(context.Background(), f)
		if err != nil {
			t.Fatal(err)
		}
		sizes = append(sizes, len(page))
		for _, a := range page {
			ids = append(ids, a.RequestID)
		}
		if next == "" {
			return ids, sizes
		}
		if between != nil {
			between()
		}
		f.Cursor = next
	}
	t.Fatal("more than 20 pages")
	return nil, nil
}

func TestInboxPages(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		// Seven approvals for Bob and one for Carol: two opened at the same instant (the request id
		// orders them), some a nanosecond or a fraction of a second apart, given in a far zone.
		opened := []time.Time{t0, t0, t0.Add(time.Microsecond), t0.Add(500 * time.Millisecond), t0.Add(time.Second), t0.Add(time.Minute), t0.Add(time.Hour)}
		var want []string
		for i, since := range opened {
			n := int64(10 - i) // numbers against the order of since: the order is since's
			if i == 1 {
				n = 11 // same since as request 10: after it
			}
			project(t, s, pendingOf(n, "alice", "bob", since.In(kiritimati)))
			want = append(want, catalog.RequestID(n))
		}
		project(t, s, pendingOf(20, "alice", "carol", t0))
		slices.SortStableFunc(want[:2], strings.Compare)

		f := store.InboxFilter{Caller: "bob", People: []string{"bob"}, Limit: 3}
		// One more arrives while Bob reads the first page: it comes last, once.
		added := false
		got, sizes := inboxPages(t, s, f, func() {
			if !added {
				added = true
				project(t, s, pendingOf(30, "alice", "bob", t0.Add(2*time.Hour)))
			}
		})
		want = append(want, catalog.RequestID(30))
		if !slices.Equal(got, want) || !slices.Equal(sizes, []int{3, 3, 2}) {
			t.Fatalf("pages %v = %v, want %v", sizes, got, want)
		}
		// A page that ends exactly at the last item has no next cursor.
		f.Limit = 8
		if page, next, err := s.PendingApprovals(context.Background(), f); err != nil || len(page) != 8 || next != "" {
			t.Fatalf("a page of all 8 = %d items, next %q, %v", len(page), next, err)
		}
		// An approval decided meanwhile leaves its place; the rest of the pages stay.
		f.Limit = 3
		first, next, _ := s.PendingApprovals(context.Background(), f)
		project(t, s, func() catalog.RequestState {
			r := approved(int64(10 - 3)) // want[3]
			r.Approvals[0].OpenedAt = opened[3]
			return r
		}())
		f.Cursor = next
		rest, _ := inboxPages(t, s, f, nil)
		if got := append(ids(first), rest...); !slices.Equal(got, slices.Delete(slices.Clone(want), 3, 4)) {
			t.Fatalf("after a decision: %v, want %v without %s", got, want, want[3])
		}

		// Bob and Carol's approvals for Bob's delegate Dave: one list, in order.
		both, _ := inboxPages(t, s, store.InboxFilter{Caller: "dave", People: []string{"bob", "carol"}, Limit: 2}, nil)
		if len(both) != 8 || both[2] != catalog.RequestID(20) {
			t.Fatalf("bob's and carol's = %v", both)
		}
	})
}

func ids(list []store.PendingApproval) []string {
	out := make([]string, len(list))
	for i, a := range list {
		out[i] = a.RequestID
	}
	return out
}

func TestQueuePages(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		var want []string
		for i := range 5 {
			r := approved(int64(5 - i))
			r.Tasks[0].OpenedAt = ptr(t0.Add(time.Duration(i) * time.Millisecond).In(kiritimati))
			project(t, s, r)
			want = append(want, r.Tasks[0].Ref)
		}
		f := store.QueueFilter{Groups: []string{"service-desk"}, States: []string{catalog.TaskOpen, catalog.TaskClaimed}, Limit: 2}
		var got []string
		var sizes []int
		for range 10 {
			page, next, err := s.TaskQueue(context.Background(), f)
			if err != nil {
				t.Fatal(err)
			}
			sizes = append(sizes, len(page))
			for _, task := range page {
				got = append(got, task.ID)
			}
			if f.Cursor = next; next == "" {
				break
			}
		}
		if !slices.Equal(got, want) || !slices.Equal(sizes, []int{2, 2, 1}) {
			t.Fatalf("pages %v = %v, want %v", sizes, got, want)
		}
	})
}

func TestBadCursors(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		project(t, s, approved(1))
		project(t, s, approved(4))
		project(t, s, pendingOf(2, "alice", "bob", t0))
		project(t, s, pendingOf(3, "alice", "bob", t0))
		_, inboxNext, _ := s.PendingApprovals(ctx, store.InboxFilter{People: []string{"bob"}, Limit: 1})
		_, queueNext, _ := s.TaskQueue(ctx, store.QueueFilter{Groups: []string{"service-desk"}, States: []string{catalog.TaskOpen}, Limit: 1})
		if inboxNext == "" || queueNext == "" {
			t.Fatalf("cursors %q and %q", inboxNext, queueNext)
		}
		enc := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
		bad := []string{"nope!", "REQ-000001", enc("a|yesterday|REQ-000001|bob"), enc("a|2025-03-14T09:26:53Z|x|bob"),
			enc("a|2025-03-14T09:26:53Z|REQ-000001|"), enc("a|2025-03-14T09:26:53Z|REQ-000001|bob|x"), strings.Repeat("A", 1000)}
		for _, c := range append(bad, queueNext) {
			if _, _, err := s.PendingApprovals(ctx, store.InboxFilter{People: []string{"bob"}, Limit: 1, Cursor: c}); !errors.Is(err, store.ErrBadCursor) {
				t.Errorf("inbox cursor %.30q: %v, want ErrBadCursor", c, err)
			}
		}
		for _, c := range append(bad, inboxNext) {
			if _, _, err := s.TaskQueue(ctx, store.QueueFilter{Groups: []string{"service-desk"}, States: []string{catalog.TaskOpen}, Limit: 1, Cursor: c}); !errors.Is(err, store.ErrBadCursor) {
				t.Errorf("queue cursor %.30q: %v, want ErrBadCursor", c, err)
			}
		}
	})
}

// TestInboxNeverShowsOwnRequest: a request is not in its requester's inbox, not even as the
// delegate of its approver; nor in anyone's when its approver is its requester.
func TestInboxNeverShowsOwnRequest(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		project(t, s, pendingOf(1, "alice", "bob", t0))
		project(t, s, pendingOf(2, "carol", "bob", t0.Add(time.Second)))
		project(t, s, pendingOf(3, "erin", "erin", t0.Add(2*time.Second)))
		for _, tc := range []struct {
			caller string
			people []string
			want   []string
		}{
			{"bob", []string{"bob"}, []string{"REQ-000001", "REQ-000002"}},
			{"alice", []string{"alice", "bob"}, []string{"REQ-000002"}},
			{"carol", []string{"carol", "bob"}, []string{"REQ-000001"}},
			{"dave", []string{"dave", "erin"}, []string{}},
		} {
			got, _ := inboxPages(t, s, store.InboxFilter{Caller: tc.caller, People: tc.people, Limit: 1}, nil)
			if !slices.Equal(got, tc.want) && !(len(got) == 0 && len(tc.want) == 0) {
				t.Errorf("%s's inbox = %v, want %v", tc.caller, got, tc.want)
			}
		}
	})
}

// TestInboxNextDeadline: the inbox shows the step's next deadline that has not fired, and which
// it is, in UTC.
func TestInboxNextDeadline(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		r := pendingOf(1, "alice", "bob", t0.In(kiritimati))
		a := &r.Approvals[0]
		a.RemindAt, a.EscalateAt, a.ExpireAt = ptr(t0.Add(8*time.Hour).In(kiritimati)), ptr(t0.Add(24*time.Hour).In(kiritimati)), ptr(t0.Add(80*time.Hour).In(kiritimati))
		for _, step := range []struct {
			fire func()
			due  string
			at   *time.Time
		}{
			{func() {}, catalog.DueReminder, a.RemindAt},
			{func() { a.Reminded = true }, catalog.DueEscalation, a.EscalateAt},
			{func() { a.Escalated = true }, catalog.DueExpiry, a.ExpireAt},
			{func() { a.ExpireAt = nil }, "", nil},
		} {
			step.fire()
			r.Seq++
			project(t, s, r)
			inbox := pending(t, s, []string{"bob"})
			if len(inbox) != 1 {
				t.Fatalf("inbox = %+v", inbox)
			}
			got := inbox[0]
			if got.Due != step.due || !sameTime(got.DueAt, step.at) {
				t.Fatalf("next deadline = %q at %v, want %q at %v", got.Due, got.DueAt, step.due, step.at)
			}
			if got.DueAt != nil {
				if _, off := got.DueAt.Zone(); off != 0 {
					t.Errorf("due_at %v is not UTC", got.DueAt)
				}
			}
		}
		// The stored state is UTC as well.
		st, err := s.Request(context.Background(), r.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, at := range []time.Time{st.SubmittedAt, st.Approvals[0].OpenedAt, *st.Approvals[0].RemindAt, *st.Approvals[0].EscalateAt} {
			if _, off := at.Zone(); off != 0 {
				t.Errorf("stored instant %v is not UTC", at)
			}
		}
	})
}

// TestInboxDueMigration: rows written before the migration that added due are derived again
// from their requests' states, so an open request's inbox shows its next deadline at once.
func TestInboxDueMigration(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		r := pendingOf(1, "alice", "bob", t0)
		r.Approvals[0].RemindAt = ptr(t0.Add(time.Hour))
		project(t, s, r)
		if err := s.MigrateDownTo(ctx, 7); err != nil {
			t.Fatal(err)
		}
		// As the projection wrote the row before: due_at the expiry.
		if _, err := s.DB.ExecContext(ctx, s.DB.Rebind(`UPDATE request_approvers SET due_at = ?`), t0.Add(72*time.Hour)); err != nil {
			t.Fatal(err)
		}
		if err := s.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		inbox := pending(t, s, []string{"bob"})
		if len(inbox) != 1 || inbox[0].Due != catalog.DueReminder || !sameTime(inbox[0].DueAt, ptr(t0.Add(time.Hour))) {
			t.Fatalf("after the migration: %+v", inbox)
		}
	})
}

// twoSteps is request n of Sara's: step 1 (manager) decided by Carol for Sam, step 2 (finance)
// waiting on Farah, Fay, Felix and, as a history before request-revision 3 could have it, Sam.
func twoSteps(n int64) catalog.RequestState {
	r := submitted(n)
	r.Requester = catalog.PersonRef{ID: "sara", Name: "Sara Lopez"}
	ref := func(id string) catalog.PersonRef { return catalog.PersonRef{ID: id, Name: id} }
	carol := ref("carol")
	r.Approvals[0].Status, r.Approvals[0].ClosedAt = catalog.ApprovalApproved, at(time.Hour)
	r.Approvals[0].Approvers = []catalog.Approver{{PersonRef: ref("sam"), Decision: catalog.DecisionApprove, DecidedBy: &carol, DecidedAt: at(time.Hour)}}
	r.Approvals = append(r.Approvals, catalog.ApprovalState{Step: 2, Name: "finance", Mode: catalog.ModeQuorum,
		Status: catalog.ApprovalPending, Required: 2, OpenedAt: t0.Add(time.Hour),
		Approvers: []catalog.Approver{{PersonRef: ref("farah")}, {PersonRef: ref("fay")}, {PersonRef: ref("felix")}, {PersonRef: ref("sam")}}})
	return r
}

// TestInboxHidesBarred: the inbox lists a step to a caller only when the decision validator
// would let them decide it (catalog.RequestState.SetBarred fills what it reads, as the
// workflow does): never to who took part in an earlier step, directly or for someone, nor for
// such a person, nor to who decided the step already, while their delegate may still decide
// their own open approval (issue 15 §1).
func TestInboxHidesBarred(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		r := twoSteps(1)
		r.SetBarred(false)
		project(t, s, r)
		// Request 2: Fay decided step 2 herself, and Farah decided it for Felix.
		r2 := twoSteps(2)
		farah := catalog.PersonRef{ID: "farah", Name: "farah"}
		r2.Approvals[1].Approvers[1].Decision = catalog.DecisionApprove
		r2.Approvals[1].Approvers[2].Decision, r2.Approvals[1].Approvers[2].DecidedBy = catalog.DecisionApprove, &farah
		r2.SetBarred(false)
		project(t, s, r2)
		// Request 3: the policy allows repeat deciders.
		r3 := twoSteps(3)
		r3.SetBarred(true)
		project(t, s, r3)
		for _, tc := range []struct {
			caller string
			people []string
			want   []string
		}{
			{"farah", []string{"farah"}, []string{"REQ-000001", "REQ-000003"}}, // she decided request 2 for Felix
			{"carol", []string{"carol", "farah"}, []string{"REQ-000003"}},      // she decided step 1 for Sam
			{"sam", []string{"sam"}, []string{"REQ-000003"}},                   // Carol decided step 1 for him
			{"dave", []string{"dave", "sam"}, []string{"REQ-000003"}},          // nobody decides for Sam
			{"fay", []string{"fay", "farah"}, []string{"REQ-000001", "REQ-000001", "REQ-000003", "REQ-000003"}},
			{"erin", []string{"erin", "farah"}, []string{"REQ-000001", "REQ-000002", "REQ-000003"}}, // Farah's own approval is open
			{"gina", []string{"gina", "fay", "felix"}, []string{"REQ-000001", "REQ-000001", "REQ-000003", "REQ-000003"}},
		} {
			got, _ := inboxPages(t, s, store.InboxFilter{Caller: tc.caller, People: tc.people, Limit: 2}, nil)
			if !slices.Equal(got, tc.want) && !(len(got) == 0 && len(tc.want) == 0) {
				t.Errorf("%s's inbox (for %v) = %v, want %v", tc.caller, tc.people, got, tc.want)
			}
		}
		// Once the request moves on, nobody is barred.
		done := twoSteps(1)
		done.Seq, done.Status = 5, catalog.StatusInFulfilment
		done.Approvals[1].Status = catalog.ApprovalApproved
		done.SetBarred(false)
		if done.Barred != nil {
			t.Fatalf("barred with no step open: %v", done.Barred)
		}
		project(t, s, done)
		if n := count(t, s, `SELECT COUNT(*) FROM request_barred WHERE request_id = 'REQ-000001'`); n != 0 {
			t.Fatalf("%d barred rows left for a request in fulfilment", n)
		}
	})
}

// TestInboxBarredMigration: the rows of requests waiting on approval, projected before the
// migration that added request_barred, are derived from their states with their pinned
// definitions' policies.
func TestInboxBarredMigration(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		b := bundle(t)
		apply(t, s, b, t0)                                // laptop v1: no repeat deciders
		b.Services[0].Approval.AllowRepeatDeciders = true // v2 allows them
		apply(t, s, b, t0)
		project(t, s, twoSteps(1)) // projected before: no Barred in the state
		r2 := twoSteps(2)
		r2.Service.Version = 2
		project(t, s, r2)
		if err := s.MigrateDownTo(ctx, 9); err != nil {
			t.Fatal(err)
		}
		if err := s.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		got, _ := inboxPages(t, s, store.InboxFilter{Caller: "carol", People: []string{"carol", "farah"}, Limit: 5}, nil)
		if !slices.Equal(got, []string{"REQ-000002"}) {
			t.Fatalf("carol's inbox after the migration = %v, want only REQ-000002 (repeat deciders allowed)", got)
		}
	})
}

func count(t *testing.T, s *store.Store, q string) int {
	t.Helper()
	var n int
	if err := s.DB.Get(&n, q); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestInboxClosedRequest: a withdrawn request keeps its open step pending in its state (the
// workflow does not close it), yet leaves its approver's inbox and the figures; a request
// waiting on the requester's answer stays in the inbox (not in the figures' pending approvals).
func TestInboxClosedRequest(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		project(t, s, pendingOf(1, "alice", "bob", t0))
		asking := pendingOf(2, "alice", "bob", t0.Add(time.Minute))
		asking.Seq, asking.Status, asking.UpdatedAt = 2, catalog.StatusWaitingOnRequester, t0.Add(2*time.Minute)
		project(t, s, asking)
		inbox := func() []string {
			t.Helper()
			page, _, err := s.PendingApprovals(ctx, store.InboxFilter{Caller: "bob", People: []string{"bob"}, Limit: 10})
			if err != nil {
				t.Fatal(err)
			}
			return ids(page)
		}
		if got := inbox(); !slices.Equal(got, []string{"REQ-000001", "REQ-000002"}) {
			t.Fatalf("inbox of two open requests = %v", got)
		}
		w := pendingOf(1, "alice", "bob", t0)
		w.Seq, w.UpdatedAt, w.ClosedAt = 3, t0.Add(3*time.Minute), at(3*time.Minute)
		w.Status, w.Stage, w.Reason = catalog.StatusCancelled, catalog.StatusCancelled, "withdrawn by the requester"
		project(t, s, w) // its step is still pending, as the workflow leaves it
		if got := inbox(); !slices.Equal(got, []string{"REQ-000002"}) {
			t.Fatalf("inbox after REQ-000001 was withdrawn = %v, want REQ-000002 only", got)
		}
		f, err := s.Figures(ctx)
		if err != nil || f.PendingApprovals != 0 {
			t.Fatalf("figures' pending approvals = %d, %v; want 0 (REQ-000002 waits on the requester)", f.PendingApprovals, err)
		}
	})
}

// TestAwaitingMigration: migration 00015 derives awaiting for the rows written before it: the
// open request's and the one waiting on its requester stay in the inbox, the withdrawn one's
// pending row does not come back.
func TestAwaitingMigration(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		project(t, s, pendingOf(1, "alice", "bob", t0))
		w := pendingOf(2, "alice", "bob", t0.Add(time.Minute))
		w.Seq, w.UpdatedAt, w.ClosedAt = 3, t0.Add(3*time.Minute), at(3*time.Minute)
		w.Status, w.Stage = catalog.StatusCancelled, catalog.StatusCancelled
		project(t, s, w)
		asking := pendingOf(3, "alice", "bob", t0.Add(2*time.Minute))
		asking.Seq, asking.Status, asking.UpdatedAt = 2, catalog.StatusWaitingOnRequester, t0.Add(2*time.Minute)
		project(t, s, asking)
		if err := s.MigrateDownTo(ctx, 14); err != nil {
			t.Fatal(err)
		}
		if err := s.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		page, _, err := s.PendingApprovals(ctx, store.InboxFilter{Caller: "bob", People: []string{"bob"}, Limit: 10})
		if err != nil || !slices.Equal(ids(page), []string{"REQ-000001", "REQ-000003"}) {
			t.Fatalf("inbox after the migration = %v, %v; want REQ-000001 and REQ-000003", ids(page), err)
		}
	})
}
