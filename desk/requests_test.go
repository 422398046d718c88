package desk

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/esmhq/esm/catalog"
	"github.com/esmhq/esm/workflows"
	"go.temporal.io/sdk/client"
)

var laptopForm = map[string]any{"model": "standard-14", "reason": "my old laptop's battery is dead"}

// submitLaptop submits a laptop for who and returns its id.
func (f *fixture) submitLaptop(t *testing.T, who string) string {
	t.Helper()
	out, err := f.desk.Submit(context.Background(), f.person(who), SubmitInput{Service: "laptop", Form: laptopForm})
	if err != nil {
		t.Fatalf("submit a laptop for %s: %v", who, err)
	}
	return out.ID
}

// wantFields fails unless err is a *ValidationError naming field.
func wantFields(t *testing.T, err error, field string) {
	t.Helper()
	var ve *ValidationError
	if !errors.As(err, &ve) || !errors.Is(err, ErrInvalid) {
		t.Fatalf("want a *ValidationError, got %v (%T)", err, err)
	}
	for _, fe := range ve.Fields {
		if fe.Field == field {
			return
		}
	}
	t.Fatalf("want a field error on %s, got %+v", field, ve.Fields)
}

// wantReason fails unless err is an *Error of the kind and reason.
func wantReason(t *testing.T, err, kind error, reason string) *Error {
	t.Helper()
	wantKind(t, err, kind)
	var e *Error
	if !errors.As(err, &e) || e.Reason != reason {
		t.Fatalf("want reason %q, got %v (%+v)", reason, err, e)
	}
	return e
}

// TestRequests: the request use cases (Submit, Quote, Request, Requests, Decide, Cancel,
// Comment), each with every kind of error it returns and the rows of docs/ACCESS.md for them,
// on each database.
func TestRequests(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		alice, bob, erin, dave, oscar, adam := f.person("alice"), f.person("bob"), f.person("erin"), f.person("dave"), f.person("oscar"), f.person("adam")

		t.Run("Submit", func(t *testing.T) {
			out, err := f.desk.Submit(ctx, alice, SubmitInput{Service: "laptop", Form: laptopForm, IdempotencyKey: "k1"})
			if err != nil || out.Replayed || out.Status != catalog.StatusPendingApproval || out.Service != "laptop" || out.Version < 1 {
				t.Fatalf("submit: %+v %v", out, err)
			}
			again, err := f.desk.Submit(ctx, alice, SubmitInput{Service: "laptop", Form: laptopForm, IdempotencyKey: "k1"})
			if err != nil || !again.Replayed || again.ID != out.ID {
				t.Fatalf("replay: %+v %v", again, err)
			}
			other := map[string]any{"model": "standard-14", "reason": "another reason"}
			_, err = f.desk.Submit(ctx, alice, SubmitInput{Service: "laptop", Form: other, IdempotencyKey: "k1"})
			if e := wantReason(t, err, ErrConflict, ReasonKeyReused); e.Request != out.ID {
				t.Fatalf("key reused names %q, want %s", e.Request, out.ID)
			}
		})
		t.Run("SubmitInvalid", func(t *testing.T) {
			_, err := f.desk.Submit(ctx, alice, SubmitInput{Form: laptopForm})
			wantFields(t, err, "/service")
			_, err = f.desk.Submit(ctx, alice, SubmitInput{Service: "laptop", Form: map[string]any{}})
			wantFields(t, err, "/form/model")
			zero := 0
			_, err = f.desk.Submit(ctx, alice, SubmitInput{Service: "laptop", Form: laptopForm, Quantity: &zero})
			wantFields(t, err, "/quantity")
			_, err = f.desk.Submit(ctx, alice, SubmitInput{Service: "laptop", Form: laptopForm, IdempotencyKey: strings.Repeat("k", MaxIdempotencyKey+1)})
			wantFields(t, err, "Idempotency-Key")
			// A priority the service does not offer is nobody's to choose (laptop offers only its
			// default): not the requester's, the owner's, an operator's or an admin's.
			for _, who := range []string{"alice", "ivan", "oscar", "adam"} {
				_, err = f.desk.Submit(ctx, f.person(who), SubmitInput{Service: "laptop", Form: laptopForm, Priority: "critical"})
				wantFields(t, err, "/priority")
			}
		})
		t.Run("SubmitNotFound", func(t *testing.T) {
			_, err := f.desk.Submit(ctx, alice, SubmitInput{Service: "no-such-service"})
			wantKind(t, err, ErrNotFound)
		})
		t.Run("SubmitNotEligible", func(t *testing.T) {
			_, err := f.desk.Submit(ctx, dave, SubmitInput{Service: "test-limited"})
			wantReason(t, err, ErrForbidden, ReasonNotEligible)
		})
		t.Run("SubmitLimits", func(t *testing.T) {
			_, err := f.desk.Submit(ctx, alice, SubmitInput{Service: "test-window-past"})
			var le *LimitError
			if !errors.As(err, &le) || le.Limit != "windows" || !errors.Is(err, ErrConflict) {
				t.Fatalf("closed window: %v", err)
			}
			if _, err := f.desk.Submit(ctx, erin, SubmitInput{Service: "test-limited"}); err != nil {
				t.Fatal(err)
			}
			_, err = f.desk.Submit(ctx, erin, SubmitInput{Service: "test-limited"})
			if !errors.As(err, &le) || le.Limit != "max_open" || len(le.Open) != 1 {
				t.Fatalf("max_open: %v %+v", err, le)
			}
		})
		t.Run("Quote", func(t *testing.T) {
			q, err := f.desk.Quote(ctx, alice, QuoteInput{Service: "test-limited", Form: map[string]any{"tier": "gold"}})
			if err != nil || q.Service != "test-limited" || q.Version < 1 {
				t.Fatalf("quote: %+v %v", q, err)
			}
			_, err = f.desk.Quote(ctx, alice, QuoteInput{Service: "no-such-service"})
			wantKind(t, err, ErrNotFound)
			four := 4
			_, err = f.desk.Quote(ctx, alice, QuoteInput{Service: "test-limited", Quantity: &four})
			wantFields(t, err, "/quantity")
			_, err = f.desk.Quote(ctx, alice, QuoteInput{Service: "test-limited", Form: map[string]any{"tier": "bronze"}})
			wantFields(t, err, "/form/tier")
		})

		r1 := f.submitLaptop(t, "alice")
		t.Run("Request", func(t *testing.T) {
			// Who may read a pending request: the requester, the approver, operators; not a
			// colleague, a fulfiller before their task opens, an admin.
			for who, ok := range map[string]bool{"alice": true, "bob": true, "oscar": true, "erin": false, "dave": false, "adam": false} {
				v, err := f.desk.Request(ctx, f.person(who), RequestInput{ID: r1})
				switch {
				case ok && (err != nil || v.State.ID != r1 || v.Stale || v.Waited):
					t.Errorf("%s reads %s: %+v %v", who, r1, v, err)
				case !ok && !errors.Is(err, ErrNotFound):
					t.Errorf("%s reads %s: want not found, got %v", who, r1, err)
				}
			}
			_, err := f.desk.Request(ctx, alice, RequestInput{ID: "REQ-12"})
			wantKind(t, err, ErrNotFound)
			_, err = f.desk.Request(ctx, alice, RequestInput{ID: "REQ-999999"})
			wantKind(t, err, ErrNotFound)
			start := time.Now()
			v, err := f.desk.Request(ctx, alice, RequestInput{ID: r1, Wait: 300 * time.Millisecond})
			if err != nil || !v.Waited || time.Since(start) < 300*time.Millisecond || v.State.Status != catalog.StatusPendingApproval {
				t.Fatalf("wait on an open request: %+v %v", v, err)
			}
		})
		t.Run("Requests", func(t *testing.T) {
			page, err := f.desk.Requests(ctx, alice, RequestsInput{Limit: 1})
			if err != nil || len(page.Items) != 1 || page.NextCursor == "" {
				t.Fatalf("first page: %+v %v", page, err)
			}
			next, err := f.desk.Requests(ctx, alice, RequestsInput{Limit: 100, Cursor: page.NextCursor})
			if err != nil || len(next.Items) == 0 || next.Items[0].ID >= page.Items[0].ID {
				t.Fatalf("next page: %+v %v", next, err)
			}
			for _, row := range append(page.Items, next.Items...) {
				if row.RequesterID != "alice" {
					t.Fatalf("alice's list holds %+v", row)
				}
			}
			mine, err := f.desk.Requests(ctx, oscar, RequestsInput{})
			if err != nil || len(mine.Items) != 0 {
				t.Fatalf("oscar's own requests: %+v %v", mine, err)
			}
			_, err = f.desk.Requests(ctx, alice, RequestsInput{Status: "lost"})
			wantFields(t, err, "status")
			_, err = f.desk.Requests(ctx, alice, RequestsInput{Cursor: "nonsense"})
			wantFields(t, err, "cursor")
		})
		t.Run("Decide", func(t *testing.T) {
			id := f.submitLaptop(t, "alice")
			_, err := f.desk.Decide(ctx, alice, DecideInput{ID: id, Decision: catalog.DecisionApprove})
			wantKind(t, err, ErrForbidden)
			_, err = f.desk.Decide(ctx, oscar, DecideInput{ID: id, Decision: catalog.DecisionApprove})
			wantKind(t, err, ErrForbidden)
			for _, p := range []Actor{erin, dave, adam} {
				_, err = f.desk.Decide(ctx, p, DecideInput{ID: id, Decision: catalog.DecisionApprove})
				wantKind(t, err, ErrNotFound)
			}
			_, err = f.desk.Decide(ctx, bob, DecideInput{ID: id, Decision: "maybe"})
			wantFields(t, err, "/decision")
			_, err = f.desk.Decide(ctx, bob, DecideInput{ID: id, Decision: catalog.DecisionReject})
			wantFields(t, err, "/comment")
			_, err = f.desk.Decide(ctx, bob, DecideInput{ID: id, Decision: catalog.DecisionApprove, Comment: strings.Repeat("x", MaxText+1)})
			wantFields(t, err, "/comment")
			res, err := f.desk.Decide(ctx, bob, DecideInput{ID: id, Decision: catalog.DecisionApprove})
			if err != nil || res.ID != id || res.Status != catalog.StatusInFulfilment {
				t.Fatalf("approve: %+v %v", res, err)
			}
			_, err = f.desk.Decide(ctx, bob, DecideInput{ID: id, Decision: catalog.DecisionApprove})
			wantKind(t, err, ErrConflict)
			// In fulfilment, the group whose task opened sees it.
			if _, err := f.desk.Request(ctx, dave, RequestInput{ID: id}); err != nil {
				t.Fatalf("dave reads a request in fulfilment: %v", err)
			}
		})
		t.Run("Cancel", func(t *testing.T) {
			id := f.submitLaptop(t, "alice")
			_, err := f.desk.Cancel(ctx, bob, CancelInput{ID: id, Reason: "no"})
			wantKind(t, err, ErrForbidden)
			_, err = f.desk.Cancel(ctx, oscar, CancelInput{ID: id, Reason: "no"})
			wantKind(t, err, ErrForbidden)
			_, err = f.desk.Cancel(ctx, erin, CancelInput{ID: id, Reason: "no"})
			wantKind(t, err, ErrNotFound)
			_, err = f.desk.Cancel(ctx, alice, CancelInput{ID: id, Reason: strings.Repeat("x", MaxText+1)})
			wantFields(t, err, "/reason")
			res, err := f.desk.Cancel(ctx, alice, CancelInput{ID: id, Reason: "no"})
			if err != nil || res.Status != catalog.StatusCancelled {
				t.Fatalf("cancel: %+v %v", res, err)
			}
			_, err = f.desk.Cancel(ctx, alice, CancelInput{ID: id})
			wantKind(t, err, ErrConflict)
			_, err = f.desk.Comment(ctx, alice, CommentInput{ID: id, Text: "too late"})
			wantKind(t, err, ErrConflict)
		})
		t.Run("Comment", func(t *testing.T) {
			id := f.submitLaptop(t, "alice")
			for _, p := range []Actor{erin, dave} {
				_, err := f.desk.Comment(ctx, p, CommentInput{ID: id, Text: "hello"})
				wantKind(t, err, ErrNotFound)
			}
			_, err := f.desk.Comment(ctx, alice, CommentInput{ID: id, Text: "  "})
			wantFields(t, err, "/text")
			_, err = f.desk.Comment(ctx, alice, CommentInput{ID: id, Text: strings.Repeat("x", MaxText+1)})
			wantFields(t, err, "/text")
			for _, p := range []Actor{alice, bob, oscar} {
				if res, err := f.desk.Comment(ctx, p, CommentInput{ID: id, Text: "hello"}); err != nil || res.ID != id {
					t.Fatalf("%s comments: %+v %v", p.ID, res, err)
				}
			}
		})
		t.Run("SubmitRetired", func(t *testing.T) {
			h, err := f.tc.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{WorkflowID: workflows.ServiceWorkflowID("software-licence"),
				UpdateName: workflows.LifecycleUpdate, WaitForStage: client.WorkflowUpdateStageCompleted,
				Args: []any{workflows.LifecycleAction{Actor: Ref(adam), Admin: true, Action: workflows.ActionRetire}}})
			if err == nil {
				err = h.Get(ctx, nil)
			}
			if err != nil {
				t.Fatalf("retire: %v", err)
			}
			_, err = f.desk.Submit(ctx, alice, SubmitInput{Service: "software-licence", Form: map[string]any{"product": "ide-pro"}})
			wantReason(t, err, ErrGone, ReasonRetired)
		})
		// Last: with the worker down, a workflow does not answer.
		t.Run("Unavailable", func(t *testing.T) {
			id := f.submitLaptop(t, "alice")
			f.worker.Stop()
			impatient := New(Config{Store: f.store, Temporal: f.tc, Logger: f.desk.log, WorkflowWait: time.Second})
			_, err := impatient.Comment(ctx, alice, CommentInput{ID: id, Text: "anyone?"})
			// The SDK reports the wait's end as a deadline or as its own timeout-or-cancel error
			// (a cancelled stream): either way the desk says ErrUnavailable, never an error of no
			// kind (which a door would answer with a 500).
			if !errors.Is(err, ErrUnavailable) {
				t.Fatalf("comment with the worker down: %v (%T), want ErrUnavailable", err, err)
			}
			v, err := impatient.Request(ctx, alice, RequestInput{ID: id})
			if err != nil || !v.Stale || v.State.ID != id {
				t.Fatalf("read with the worker down: %+v %v", v, err)
			}
		})
	})
}
