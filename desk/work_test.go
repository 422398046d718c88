package desk

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/esmhq/esm/catalog"
)

// eventually retries cond until it holds, failing the test after 20 seconds (the read model is
// written by activities).
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); !cond(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: never", what)
		}
	}
}

// approve has approver approve the request, which opens its task.
func (f *fixture) approve(t *testing.T, id, approver string) {
	t.Helper()
	if _, err := f.desk.Decide(context.Background(), f.person(approver), DecideInput{ID: id, Decision: catalog.DecisionApprove}); err != nil {
		t.Fatalf("%s approves %s: %v", approver, id, err)
	}
}

// approvedLaptop is a laptop that requester asked for and approver approved: its task
// (REQ-....prepare, it-service-desk's) is open. It returns the task's id.
func (f *fixture) approvedLaptop(t *testing.T, requester, approver string) string {
	t.Helper()
	id := f.submitLaptop(t, requester)
	f.approve(t, id, approver)
	return id + ".prepare"
}

// approvalIDs and taskIDs list the ids of a page.
func approvalIDs(p Page[PendingApproval]) []string {
	var out []string
	for _, a := range p.Items {
		out = append(out, a.RequestID)
	}
	return out
}

func taskIDs(p Page[QueuedTask]) []string {
	var out []string
	for _, q := range p.Items {
		out = append(out, q.ID)
	}
	return out
}

// TestWork: the work of approvers and fulfillers (Approvals, Tasks, ClaimTask, ReleaseTask,
// AssignTask, CompleteTask, FailTask, AskRequester), delegations (Delegate, Delegations,
// EndDelegation) and SLAReport, each with every kind of error it returns and the rows of
// docs/ACCESS.md for them, on each database, without HTTP.
func TestWork(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		p := f.person
		alice, bob, carol, erin, dave, frank, tara, oscar := p("alice"), p("bob"), p("carol"), p("erin"), p("dave"), p("frank"), p("tara"), p("oscar")

		// call makes a task call and checks its outcome: nil for success, or an error kind.
		type taskFn func(context.Context, Actor, TaskCall) (TaskChanged, error)
		call := func(t *testing.T, name string, fn taskFn, who Actor, in TaskCall, want error) TaskChanged {
			t.Helper()
			res, err := fn(ctx, who, in)
			switch {
			case want == nil && err != nil:
				t.Fatalf("%s %s as %s: %v", name, in.Task, who.ID, err)
			case want != nil:
				if err == nil {
					t.Fatalf("%s %s as %s: done, want %v", name, in.Task, who.ID, want)
				}
				wantKind(t, err, want)
			}
			return res
		}

		t.Run("Approvals", func(t *testing.T) {
			r1, r2 := f.submitLaptop(t, "alice"), f.submitLaptop(t, "erin")
			var got Page[PendingApproval]
			eventually(t, "bob's inbox", func() bool {
				var err error
				got, err = f.desk.Approvals(ctx, bob, ApprovalsInput{})
				return err == nil && slices.Equal(approvalIDs(got), []string{r1, r2})
			})
			if got.Items[0].Approver != "bob" || got.Items[0].OnBehalfOf != "" || got.NextCursor != "" {
				t.Fatalf("bob's inbox: %+v", got)
			}
			// A page at a time.
			first, err := f.desk.Approvals(ctx, bob, ApprovalsInput{Limit: 1})
			if err != nil || !slices.Equal(approvalIDs(first), []string{r1}) || first.NextCursor == "" {
				t.Fatalf("first page: %+v %v", first, err)
			}
			second, err := f.desk.Approvals(ctx, bob, ApprovalsInput{Limit: 1, Cursor: first.NextCursor})
			if err != nil || !slices.Equal(approvalIDs(second), []string{r2}) {
				t.Fatalf("second page: %+v %v", second, err)
			}
			// Nobody else's, and never one's own request.
			for _, who := range []Actor{alice, erin, dave, oscar} {
				if got, err := f.desk.Approvals(ctx, who, ApprovalsInput{}); err != nil || len(got.Items) != 0 {
					t.Fatalf("%s's inbox: %+v %v", who.ID, got, err)
				}
			}
			// Carol decides for Bob while he is away: his approvals are in her inbox, on his behalf.
			if _, err := f.desk.Delegate(ctx, bob, DelegateInput{Delegate: "carol", EndsAt: time.Now().Add(time.Hour)}); err != nil {
				t.Fatal(err)
			}
			got, err = f.desk.Approvals(ctx, carol, ApprovalsInput{})
			if err != nil || !slices.Equal(approvalIDs(got), []string{r1, r2}) || got.Items[0].OnBehalfOf != "bob" {
				t.Fatalf("carol's inbox: %+v %v", got, err)
			}
			_, err = f.desk.Approvals(ctx, bob, ApprovalsInput{Cursor: "nope!"})
			wantFields(t, err, "cursor")
			// Clear the inbox for what follows.
			f.approve(t, r1, "bob")
			f.approve(t, r2, "bob")
		})

		var f2, f3, d1, t1, d2 string
		t.Run("Tasks", func(t *testing.T) {
			f2, f3 = f.approvedLaptop(t, "alice", "bob"), f.approvedLaptop(t, "alice", "bob")
			d1, t1, d2 = f.approvedLaptop(t, "dave", "tara"), f.approvedLaptop(t, "tara", "ivan"), f.approvedLaptop(t, "dave", "tara")
			var got Page[QueuedTask]
			eventually(t, "the service desk's queue", func() bool {
				var err error
				got, err = f.desk.Tasks(ctx, frank, TasksInput{Group: "it-service-desk"})
				return err == nil && len(got.Items) == 7
			})
			// Never a task of one's own request: Dave does not see his two, Tara not hers.
			mine, err := f.desk.Tasks(ctx, dave, TasksInput{})
			if err != nil || len(mine.Items) != 5 || slices.Contains(taskIDs(mine), d1) || slices.Contains(taskIDs(mine), d2) {
				t.Fatalf("dave's queue: %v %v", taskIDs(mine), err)
			}
			if lead, err := f.desk.Tasks(ctx, tara, TasksInput{Group: "it-service-desk"}); err != nil || len(lead.Items) != 6 || slices.Contains(taskIDs(lead), t1) {
				t.Fatalf("tara's queue: %v %v", taskIDs(lead), err)
			}
			first, err := f.desk.Tasks(ctx, frank, TasksInput{Limit: 4})
			if err != nil || len(first.Items) != 4 || first.NextCursor == "" {
				t.Fatalf("first page: %v %q %v", taskIDs(first), first.NextCursor, err)
			}
			rest, err := f.desk.Tasks(ctx, frank, TasksInput{Limit: 4, Cursor: first.NextCursor})
			if err != nil || !slices.Equal(append(taskIDs(first), taskIDs(rest)...), taskIDs(got)) {
				t.Fatalf("pages %v + %v, want %v (%v)", taskIDs(first), taskIDs(rest), taskIDs(got), err)
			}
			if done, err := f.desk.Tasks(ctx, frank, TasksInput{State: catalog.TaskDone}); err != nil || len(done.Items) != 0 {
				t.Fatalf("done tasks: %v %v", taskIDs(done), err)
			}
			// A group one is not in (access: a group's queue is its members').
			for _, who := range []Actor{alice, oscar} {
				_, err := f.desk.Tasks(ctx, who, TasksInput{Group: "it-service-desk"})
				wantKind(t, err, ErrForbidden)
			}
			if none, err := f.desk.Tasks(ctx, alice, TasksInput{}); err != nil || len(none.Items) != 0 {
				t.Fatalf("alice's queue: %v %v", taskIDs(none), err)
			}
			_, err = f.desk.Tasks(ctx, dave, TasksInput{State: "lost"})
			wantFields(t, err, "state")
			_, err = f.desk.Tasks(ctx, dave, TasksInput{Cursor: "REQ-000001"})
			wantFields(t, err, "cursor")
		})

		// The rows of docs/ACCESS.md for the task calls (as e2e.TestAccessTable walks them over
		// HTTP): 403 is ErrForbidden, 404 ErrNotFound, 409 ErrConflict.
		t.Run("ClaimTask", func(t *testing.T) {
			in := TaskCall{Task: f2}
			call(t, "claim", f.desk.ClaimTask, alice, in, ErrForbidden)
			call(t, "claim", f.desk.ClaimTask, bob, in, ErrForbidden)
			call(t, "claim", f.desk.ClaimTask, oscar, in, ErrForbidden)
			call(t, "claim", f.desk.ClaimTask, erin, in, ErrNotFound)
			res := call(t, "claim", f.desk.ClaimTask, dave, in, nil)
			if res.Task.Ref != f2 || res.Task.State != catalog.TaskClaimed || res.Task.Assignee != "dave" || res.Status != catalog.StatusInFulfilment || res.Request+".prepare" != f2 {
				t.Fatalf("claimed: %+v", res)
			}
			call(t, "claim", f.desk.ClaimTask, frank, in, ErrConflict)
			// Nobody fulfils their own request, not even a lead.
			call(t, "claim", f.desk.ClaimTask, dave, TaskCall{Task: d1}, ErrForbidden)
			call(t, "claim", f.desk.ClaimTask, tara, TaskCall{Task: t1}, ErrForbidden)
			call(t, "claim", f.desk.ClaimTask, frank, TaskCall{Task: d1}, nil)
			// Not a task id, no such task, a request that does not exist.
			call(t, "claim", f.desk.ClaimTask, dave, TaskCall{Task: "nope"}, ErrNotFound)
			call(t, "claim", f.desk.ClaimTask, dave, TaskCall{Task: strings.TrimSuffix(f2, "prepare") + "nosuch"}, ErrNotFound)
			call(t, "claim", f.desk.ClaimTask, dave, TaskCall{Task: "REQ-999999.prepare"}, ErrNotFound)
			wantKind(t, f.desk.VisibleTask(ctx, erin, f2), ErrNotFound)
			wantKind(t, f.desk.VisibleTask(ctx, dave, "nope"), ErrNotFound)
			if err := f.desk.VisibleTask(ctx, dave, f2); err != nil {
				t.Fatal(err)
			}
		})

		t.Run("ReleaseTask", func(t *testing.T) {
			call(t, "release", f.desk.ReleaseTask, frank, TaskCall{Task: f2}, ErrConflict)
			call(t, "release", f.desk.ReleaseTask, erin, TaskCall{Task: f2}, ErrNotFound)
			if res := call(t, "release", f.desk.ReleaseTask, dave, TaskCall{Task: f2}, nil); res.Task.State != catalog.TaskOpen || res.Task.Assignee != "" {
				t.Fatalf("released: %+v", res.Task)
			}
			call(t, "claim", f.desk.ClaimTask, dave, TaskCall{Task: f2}, nil)
		})

		t.Run("CompleteTask", func(t *testing.T) {
			call(t, "complete", f.desk.CompleteTask, frank, TaskCall{Task: f2}, ErrConflict)
			if res := call(t, "complete", f.desk.CompleteTask, tara, TaskCall{Task: f2}, nil); res.Task.State != catalog.TaskDone || res.Status != catalog.StatusResolved {
				t.Fatalf("completed: %+v", res)
			}
			// The request is closed: nothing more to do on it.
			call(t, "claim", f.desk.ClaimTask, dave, TaskCall{Task: f2}, ErrConflict)
			call(t, "complete", f.desk.CompleteTask, dave, TaskCall{Task: d1, Outputs: map[string]any{"asset_tag": "LT-9999"}}, ErrForbidden)
			call(t, "complete", f.desk.CompleteTask, tara, TaskCall{Task: d1, Outputs: map[string]any{"asset_tag": "LT-9999"}}, nil)
		})

		t.Run("AssignTask", func(t *testing.T) {
			call(t, "assign", f.desk.AssignTask, dave, TaskCall{Task: f3, Assignee: "frank"}, ErrForbidden)
			call(t, "assign", f.desk.AssignTask, alice, TaskCall{Task: f3, Assignee: "frank"}, ErrForbidden)
			_, err := f.desk.AssignTask(ctx, tara, TaskCall{Task: f3})
			wantFields(t, err, "/assignee")
			_, err = f.desk.AssignTask(ctx, tara, TaskCall{Task: f3, Assignee: "alice"})
			wantFields(t, err, "/assignee")
			_, err = f.desk.AssignTask(ctx, tara, TaskCall{Task: f3, Assignee: "nobody"})
			wantFields(t, err, "/assignee")
			if res := call(t, "assign", f.desk.AssignTask, tara, TaskCall{Task: f3, Assignee: "frank"}, nil); res.Task.Assignee != "frank" {
				t.Fatalf("assigned: %+v", res.Task)
			}
			// A task of one's own request, or to its requester.
			call(t, "assign", f.desk.AssignTask, tara, TaskCall{Task: t1, Assignee: "frank"}, ErrForbidden)
			call(t, "assign", f.desk.AssignTask, tara, TaskCall{Task: t1, Assignee: "tara"}, ErrForbidden)
			call(t, "assign", f.desk.AssignTask, tara, TaskCall{Task: d2, Assignee: "dave"}, ErrForbidden)
		})

		t.Run("AskRequester", func(t *testing.T) {
			_, err := f.desk.AskRequester(ctx, frank, TaskCall{Task: f3, Question: "  "})
			wantFields(t, err, "/question")
			_, err = f.desk.AskRequester(ctx, frank, TaskCall{Task: f3, Question: strings.Repeat("?", MaxText+1)})
			wantFields(t, err, "/question") // the field that is too long
			call(t, "ask", f.desk.AskRequester, tara, TaskCall{Task: t1, Question: "Which keyboard?"}, ErrForbidden)
			call(t, "ask", f.desk.AskRequester, dave, TaskCall{Task: d2, Question: "Which keyboard?"}, ErrForbidden)
			call(t, "ask", f.desk.AskRequester, erin, TaskCall{Task: f3, Question: "Which keyboard?"}, ErrNotFound)
			if res := call(t, "ask", f.desk.AskRequester, frank, TaskCall{Task: f3, Question: "Which keyboard?"}, nil); res.Status != catalog.StatusWaitingOnRequester {
				t.Fatalf("asked: %+v", res)
			}
			if _, err := f.desk.Comment(ctx, alice, CommentInput{ID: strings.TrimSuffix(f3, ".prepare"), Text: "UK, please"}); err != nil {
				t.Fatal(err)
			}
		})

		t.Run("FailTask", func(t *testing.T) {
			_, err := f.desk.FailTask(ctx, frank, TaskCall{Task: f3})
			wantFields(t, err, "/reason")
			_, err = f.desk.FailTask(ctx, frank, TaskCall{Task: f3, Reason: strings.Repeat("x", MaxText+1)})
			wantFields(t, err, "/reason")
			call(t, "fail", f.desk.FailTask, dave, TaskCall{Task: f3, Reason: "out of stock"}, ErrConflict)
			call(t, "fail", f.desk.FailTask, alice, TaskCall{Task: f3, Reason: "out of stock"}, ErrForbidden)
			if res := call(t, "fail", f.desk.FailTask, frank, TaskCall{Task: f3, Reason: "out of stock"}, nil); res.Status != catalog.StatusFailed {
				t.Fatalf("failed: %+v", res)
			}
			call(t, "fail", f.desk.FailTask, tara, TaskCall{Task: t1, Reason: "no stock"}, ErrForbidden)
			call(t, "fail", f.desk.FailTask, dave, TaskCall{Task: d2, Reason: "no stock"}, ErrForbidden)
			call(t, "fail", f.desk.FailTask, frank, TaskCall{Task: d2, Reason: "no stock"}, nil)
		})

		var given Delegation
		t.Run("Delegate", func(t *testing.T) {
			later := time.Now().Add(48 * time.Hour)
			for _, c := range []struct {
				in    DelegateInput
				field string
			}{
				{DelegateInput{EndsAt: later}, "/delegate"},
				{DelegateInput{Delegate: "erin", EndsAt: later}, "/delegate"},
				{DelegateInput{Delegate: "nobody", EndsAt: later}, "/delegate"},
				{DelegateInput{Delegate: "carol"}, "/ends_at"},
				{DelegateInput{Delegate: "carol", EndsAt: time.Now().Add(-time.Hour)}, "/ends_at"},
				{DelegateInput{Delegate: "carol", StartsAt: later, EndsAt: later.Add(-time.Hour)}, "/ends_at"},
				{DelegateInput{Delegate: "carol", EndsAt: time.Now().Add(400 * 24 * time.Hour)}, "/ends_at"},
			} {
				_, err := f.desk.Delegate(ctx, erin, c.in)
				wantFields(t, err, c.field)
			}
			var err error
			given, err = f.desk.Delegate(ctx, erin, DelegateInput{Delegate: "carol", EndsAt: later})
			if err != nil || given.ID == 0 || given.Person != "erin" || given.Delegate != "carol" || given.StartsAt.IsZero() || given.EndsAt.Sub(later).Abs() > time.Second {
				t.Fatalf("delegate: %+v %v", given, err)
			}
		})

		t.Run("Delegations", func(t *testing.T) {
			has := func(who Actor, id int64) bool {
				items, err := f.desk.Delegations(ctx, who)
				if err != nil {
					t.Fatal(err)
				}
				return slices.ContainsFunc(items, func(d Delegation) bool { return d.ID == id })
			}
			if !has(erin, given.ID) || !has(carol, given.ID) || has(alice, given.ID) {
				t.Fatalf("erin's delegation %d is listed for erin and carol alone", given.ID)
			}
			if items, err := f.desk.Delegations(ctx, dave); err != nil || len(items) != 0 {
				t.Fatalf("dave's delegations: %+v %v", items, err)
			}
		})

		t.Run("EndDelegation", func(t *testing.T) {
			id := given.ID
			for _, bad := range []string{"nope", "0", "99999999999999999999", "123456"} {
				wantKind(t, f.desk.EndDelegation(ctx, erin, bad), ErrNotFound)
			}
			// One's own alone: the delegate may not end it.
			wantKind(t, f.desk.EndDelegation(ctx, carol, itoa(id)), ErrNotFound)
			if err := f.desk.EndDelegation(ctx, erin, itoa(id)); err != nil {
				t.Fatal(err)
			}
			wantKind(t, f.desk.EndDelegation(ctx, erin, itoa(id)), ErrNotFound)
			if items, err := f.desk.Delegations(ctx, carol); err != nil || slices.ContainsFunc(items, func(d Delegation) bool { return d.ID == id }) {
				t.Fatalf("carol's delegations once %d ended: %+v %v", id, items, err)
			}
		})

		t.Run("SLAReport", func(t *testing.T) {
			// Two laptops closed (resolved, failed): IT's staff and operators see them, anyone
			// else their own department's services alone.
			var rep SLAReport
			eventually(t, "the laptops' SLA", func() bool {
				var err error
				rep, err = f.desk.SLAReport(ctx, oscar, SLAReportInput{})
				return err == nil && len(rep.Items) == 1 && rep.Items[0].Closed >= 2
			})
			if a := rep.Items[0]; a.Service != "laptop" || a.Department != "it" {
				t.Fatalf("operator's report: %+v", rep.Items)
			}
			if !rep.To.After(rep.From) || rep.To.Sub(rep.From) != 30*24*time.Hour || rep.To.Location() != time.UTC {
				t.Fatalf("default period: %v to %v", rep.From, rep.To)
			}
			if it, err := f.desk.SLAReport(ctx, dave, SLAReportInput{}); err != nil || len(it.Items) != 1 {
				t.Fatalf("dave's report: %+v %v", it.Items, err)
			}
			if eng, err := f.desk.SLAReport(ctx, alice, SLAReportInput{}); err != nil || len(eng.Items) != 0 {
				t.Fatalf("alice's report: %+v %v", eng.Items, err)
			}
			past := time.Now().Add(-24 * time.Hour)
			if old, err := f.desk.SLAReport(ctx, oscar, SLAReportInput{To: &past}); err != nil || len(old.Items) != 0 {
				t.Fatalf("a period that ended yesterday: %+v %v", old.Items, err)
			}
			from, to := time.Now(), time.Now().Add(-time.Hour)
			_, err := f.desk.SLAReport(ctx, oscar, SLAReportInput{From: &from, To: &to})
			wantFields(t, err, "to")
			_, err = f.desk.SLAReport(ctx, oscar, SLAReportInput{From: &from, To: &from})
			wantFields(t, err, "to")
		})

		// A task call whose workflow does not answer in time (the worker is down) is
		// ErrUnavailable; the call is kept and takes effect when a worker comes back.
		t.Run("Unavailable", func(t *testing.T) {
			task := f.approvedLaptop(t, "erin", "bob")
			f.worker.Stop()
			impatient := New(Config{Store: f.store, Temporal: f.tc, WorkflowWait: 500 * time.Millisecond})
			// Whenever the wait ran out (before Temporal took the update, or while the SDK polled
			// its outcome), the desk says ErrUnavailable.
			_, err := impatient.ClaimTask(ctx, dave, TaskCall{Task: task})
			if !errors.Is(err, ErrUnavailable) {
				t.Fatalf("claim with the worker down: %v (%T), want ErrUnavailable", err, err)
			}
		})
	})
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
