package store_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/esmhq/esm/catalog"
	"github.com/esmhq/esm/store"
	"github.com/esmhq/esm/store/storetest"
)

// Reads never advertise what the workflow refuses (issue 16, item 9).

// TestProjectionOfALostWorkflowTask: the projection is a local activity, written while its
// workflow task runs. A worker killed before the task completes leaves in the read model a
// state the workflow's history never had (here: the task open, the approval decided); the task
// runs again, later, and reaches a state with a lower seq (the approval still pending). That
// state is what the validators judge by, so it must replace the lost one, and a late write of
// the lost one must not come back.
func TestProjectionOfALostWorkflowTask(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		id := catalog.RequestID(1)
		group, bob := []string{"service-desk"}, []string{"bob"}
		project(t, s, submitted(1)) // seq 1, committed

		lost := approved(1) // seq 3 at t0+1h: the worker died before its task completed
		if !project(t, s, lost) {
			t.Fatal("the lost task's projection did not write")
		}
		if q := queue(t, s, group, catalog.TaskOpen); len(q) != 1 {
			t.Fatalf("queue after the lost projection = %+v", q)
		}

		// The task runs again 10 s later: a reminder went out, the step is still open (seq 2).
		again := submitted(1)
		again.Seq, again.UpdatedAt = 2, t0.Add(time.Hour+10*time.Second)
		again.Approvals[0].Reminded = true
		again.Timeline = append(again.Timeline, catalog.Event{Seq: 3, At: again.UpdatedAt, Type: "approval.reminded"})
		if !project(t, s, again) {
			t.Fatal("the committed state (seq 2, later) did not replace the lost one (seq 3, earlier)")
		}
		check := func(when string) {
			t.Helper()
			got, err := s.Request(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			if got.Seq != 2 || got.Status != catalog.StatusPendingApproval || got.Tasks[0].State != catalog.TaskWaiting || got.Tasks[0].Actionable {
				t.Fatalf("%s: stored seq %d, %s, task %s (actionable %v); want the committed seq 2", when, got.Seq, got.Status, got.Tasks[0].State, got.Tasks[0].Actionable)
			}
			if q := queue(t, s, group, catalog.TaskOpen, catalog.TaskClaimed); len(q) != 0 {
				t.Fatalf("%s: the queue lists %+v; the workflow's task is waiting", when, q)
			}
			if a := pending(t, s, bob); len(a) != 1 {
				t.Fatalf("%s: bob's inbox = %+v; his step is open", when, a)
			}
			rows, err := s.ListRequests(ctx, store.RequestFilter{Requester: "alice", Limit: 5})
			if err != nil || len(rows) != 1 || rows[0].Status != catalog.StatusPendingApproval || rows[0].Seq != 2 {
				t.Fatalf("%s: alice's list = %+v, %v", when, rows, err)
			}
		}
		check("after the task ran again")

		// The dead worker's write arriving late (a stalled connection) changes nothing.
		if project(t, s, lost) {
			t.Fatal("a late write of the lost task's state wrote")
		}
		check("after a late write of the lost state")

		// The committed timeline goes on as before: newer seq, later instant.
		next := approved(1)
		next.Seq, next.UpdatedAt = 4, t0.Add(2*time.Hour)
		if !project(t, s, next) {
			t.Fatal("the next committed state did not write")
		}
		if q := queue(t, s, group, catalog.TaskOpen); len(q) != 1 {
			t.Fatalf("queue after the task opened for real = %+v", q)
		}
		// Within one workflow task the instant stays and seq grows.
		same := next
		same.Seq = 5
		if !project(t, s, same) {
			t.Fatal("a later seq at the same instant did not write")
		}
		if project(t, s, next) {
			t.Fatal("an earlier seq at the same instant wrote")
		}
	})
}

// TestProjectionOfRowsBeforeTheInstant: rows written before updated_us existed (0) are ordered
// by seq alone until their next write.
func TestProjectionOfRowsBeforeTheInstant(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		project(t, s, approved(1))
		if _, err := s.DB.Exec(`UPDATE requests SET updated_us = 0`); err != nil {
			t.Fatal(err)
		}
		late := submitted(1)
		late.UpdatedAt = t0.Add(3 * time.Hour) // an older seq with a later instant: not from this run's history
		if project(t, s, late) {
			t.Fatal("an older seq wrote over a row without an instant")
		}
		next := approved(1)
		next.Seq, next.UpdatedAt = 4, t0.Add(2*time.Hour)
		if !project(t, s, next) {
			t.Fatal("a newer seq did not write over a row without an instant")
		}
	})
}

// waitingOnTask is request n in fulfilment, its task claimed by dave, who asked the requester a
// question: the request waits on the requester, and the task validators refuse every action.
func waitingOnTask(n int64) catalog.RequestState {
	r := approved(n)
	r.Seq, r.UpdatedAt = 5, t0.Add(2*time.Hour)
	r.Status = catalog.StatusWaitingOnRequester
	r.Tasks[0].State, r.Tasks[0].Assignee = catalog.TaskClaimed, "dave"
	r.Timeline = append(r.Timeline, catalog.Event{Seq: 5, At: r.UpdatedAt, Type: "task.info_requested", Actor: "dave"})
	return r
}

// TestQueueListsWhatTheValidatorsAccept: a task open or claimed in a request waiting on the
// requester is refused by every task update (TaskRefusal), so the queue does not list it, and
// the stored state shows it not actionable; it comes back with the answer.
func TestQueueListsWhatTheValidatorsAccept(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		group := []string{"service-desk"}
		project(t, s, waitingOnTask(1))
		project(t, s, approved(2))
		for _, states := range [][]string{{catalog.TaskOpen, catalog.TaskClaimed}, {catalog.TaskClaimed}, {catalog.TaskOpen}} {
			var ids []string
			for _, q := range queue(t, s, group, states...) {
				ids = append(ids, q.ID)
			}
			if slices.Contains(ids, catalog.RequestID(1)+".prepare") {
				t.Errorf("queue %v lists %v: the task of a request waiting on the requester, which the validators refuse", states, ids)
			}
		}
		got, err := s.Request(ctx, catalog.RequestID(1))
		if err != nil {
			t.Fatal(err)
		}
		if got.Tasks[0].Actionable || got.TaskRefusal(got.Tasks[0]) == "" {
			t.Errorf("stored task = %+v: actionable while the request waits on the requester", got.Tasks[0])
		}
		if got, _ := s.Request(ctx, catalog.RequestID(2)); !got.Tasks[0].Actionable {
			t.Errorf("the open task of a request in fulfilment is not actionable: %+v", got.Tasks[0])
		}
		// The requester answers: the task is back in the queue.
		answered := waitingOnTask(1)
		answered.Seq++
		answered.Status = catalog.StatusInFulfilment
		project(t, s, answered)
		if q := queue(t, s, group, catalog.TaskClaimed); len(q) != 1 || q[0].RequestID != catalog.RequestID(1) {
			t.Errorf("claimed tasks after the answer = %+v", q)
		}
		// Done tasks are listed whatever the request's status.
		done := waitingOnTask(3)
		done.Tasks[0].State = catalog.TaskDone
		project(t, s, done)
		if q := queue(t, s, group, catalog.TaskDone); len(q) != 1 {
			t.Errorf("done tasks = %+v", q)
		}
	})
}

// TestInboxListsWhatTheValidatorAccepts: while the requester owes an approver an answer, the
// step is still open and the decision validator accepts approve and reject from its approvers,
// so their inbox lists it, saying the request waits.
func TestInboxListsWhatTheValidatorAccepts(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		asked := submitted(1)
		asked.Seq, asked.Status = 3, catalog.StatusWaitingOnRequester
		project(t, s, asked)
		inbox := pending(t, s, []string{"bob"})
		if len(inbox) != 1 || inbox[0].RequestID != asked.ID || inbox[0].Status != catalog.StatusWaitingOnRequester {
			t.Fatalf("bob's inbox while alice owes him an answer = %+v", inbox)
		}
		// A request waiting on the requester in fulfilment has no open step: nothing to decide.
		if inbox := pending(t, s, []string{"bob"}); len(inbox) != 1 {
			t.Fatalf("inbox = %+v", inbox)
		}
		project(t, s, waitingOnTask(2))
		if inbox := pending(t, s, []string{"bob"}); len(inbox) != 1 {
			t.Fatalf("bob's inbox lists a decided step: %+v", inbox)
		}
	})
}

// TestActionableMigration: the migration derives request_tasks.actionable of rows written
// before it by the validators' rule.
func TestActionableMigration(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		project(t, s, waitingOnTask(1))
		project(t, s, approved(2))
		if err := s.MigrateDownTo(ctx, 10); err != nil {
			t.Fatal(err)
		}
		if err := s.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		q := queue(t, s, []string{"service-desk"}, catalog.TaskOpen, catalog.TaskClaimed)
		if len(q) != 1 || q[0].RequestID != catalog.RequestID(2) {
			t.Fatalf("queue after the migration = %+v, want only REQ-000002's task", q)
		}
		// Rows keep ordering by seq until their next write.
		if project(t, s, submitted(2)) {
			t.Fatal("an older seq wrote after the migration")
		}
	})
}
