package desk

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/esmhq/esm/catalog"
	"github.com/esmhq/esm/store"
)

// openStep waits until the request's first approval step is open and returns its number.
func (f *fixture) openStep(t *testing.T, id string) int {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		v, err := f.desk.Request(context.Background(), f.person("oscar"), RequestInput{ID: id})
		if err == nil && len(v.State.Approvals) > 0 && v.State.Approvals[0].Status == catalog.ApprovalPending {
			return v.State.Approvals[0].Step
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: no open step: %v", id, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// link makes a decision link as the notify activity does, for person deciding for principal.
func (f *fixture) link(t *testing.T, id string, step int, person, principal, decision string) string {
	t.Helper()
	now := time.Now()
	token, err := f.store.CreateDecisionLink(context.Background(), store.DecisionLink{Request: id, Step: step, Person: person,
		Principal: principal, Decision: decision, CreatedAt: now, ExpiresAt: now.Add(72 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	return token
}

// status is the request's status as its requester reads it.
func (f *fixture) status(t *testing.T, id string) string {
	t.Helper()
	v, err := f.desk.Request(context.Background(), f.person("oscar"), RequestInput{ID: id})
	if err != nil {
		t.Fatal(err)
	}
	return v.State.Status
}

// wantLink fails unless err is an *Error of the kind and reason, whose detail holds each of
// words.
func wantLink(t *testing.T, err, kind error, reason string, words ...string) {
	t.Helper()
	e := wantReason(t, err, kind, reason)
	for _, w := range words {
		if !strings.Contains(e.Detail, w) {
			t.Fatalf("the detail %q does not say %q", e.Detail, w)
		}
	}
}

// TestDecideByLink: a link opened decides nothing; its use decides as Bob, once; the link is
// bound to its request and step (it leaves Bob's other request waiting); a second use says it
// was used, as does the Reject link of the same mail once the step is decided.
func TestDecideByLink(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		id, other := f.submitLaptop(t, "alice"), f.submitLaptop(t, "carol")
		step := f.openStep(t, id)
		f.openStep(t, other)
		approve := f.link(t, id, step, "bob", "bob", catalog.DecisionApprove)
		reject := f.link(t, id, step, "bob", "bob", catalog.DecisionReject)

		v, err := f.desk.OpenLink(ctx, approve)
		if err != nil {
			t.Fatal(err)
		}
		if v.Request.ID != id || v.Person.ID != "bob" || v.Principal.Name != "Bob Ruiz" || v.Decision != catalog.DecisionApprove || v.Step.Step != step {
			t.Fatalf("the link's view: %+v", v)
		}
		if st := f.status(t, id); st != catalog.StatusPendingApproval {
			t.Fatalf("opening the link moved %s to %s", id, st)
		}
		// A rejection needs its reason, as in the portal; the refusal leaves the link usable.
		_, err = f.desk.DecideByLink(ctx, reject, DecideByLinkInput{})
		wantFields(t, err, "/comment")

		out, err := f.desk.DecideByLink(ctx, approve, DecideByLinkInput{Comment: "enjoy"})
		if err != nil {
			t.Fatal(err)
		}
		if out.ID != id || out.Status != catalog.StatusInFulfilment {
			t.Fatalf("decided: %+v", out)
		}
		got, err := f.desk.Request(ctx, f.person("alice"), RequestInput{ID: id})
		if err != nil {
			t.Fatal(err)
		}
		if a := got.State.Approvals[0].Approvers[0]; a.ID != "bob" || a.Decision != catalog.DecisionApprove || a.Comment != "enjoy" || a.DecidedBy != nil {
			t.Fatalf("the decision: %+v", a)
		}
		if st := f.status(t, other); st != catalog.StatusPendingApproval {
			t.Fatalf("Bob's link for %s moved %s to %s", id, other, st)
		}
		_, err = f.desk.DecideByLink(ctx, approve, DecideByLinkInput{})
		wantLink(t, err, ErrGone, ReasonLinkUsed, "used", "approved "+id)
		_, err = f.desk.OpenLink(ctx, approve)
		wantLink(t, err, ErrGone, ReasonLinkUsed)
		_, err = f.desk.OpenLink(ctx, reject)
		wantLink(t, err, ErrConflict, ReasonStepDecided, "Bob Ruiz already approved")

		// A token for a step the request does not have, and one that is not a token.
		_, err = f.desk.OpenLink(ctx, f.link(t, other, step+1, "bob", "bob", catalog.DecisionApprove))
		wantLink(t, err, ErrNotFound, ReasonLinkUnknown)
		_, err = f.desk.OpenLink(ctx, strings.Repeat("A", 43))
		wantLink(t, err, ErrNotFound, ReasonLinkUnknown)
		_, err = f.desk.DecideByLink(ctx, "nope", DecideByLinkInput{})
		wantLink(t, err, ErrNotFound, ReasonLinkUnknown)
	})
}

// TestDecideByLinkTwiceAtOnce: two uses of one link at the same moment decide once; the other
// is told the link was used (or, if it came after, that the step is decided).
func TestDecideByLinkTwiceAtOnce(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		id := f.submitLaptop(t, "alice")
		token := f.link(t, id, f.openStep(t, id), "bob", "bob", catalog.DecisionApprove)
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i := range errs {
			wg.Go(func() { _, errs[i] = f.desk.DecideByLink(context.Background(), token, DecideByLinkInput{}) })
		}
		wg.Wait()
		ok := 0
		for _, err := range errs {
			if err == nil {
				ok++
				continue
			}
			if !errors.Is(err, ErrGone) && !errors.Is(err, ErrConflict) {
				t.Fatalf("the second use: %v", err)
			}
		}
		if ok != 1 {
			t.Fatalf("%d uses decided: %v", ok, errs)
		}
	})
}

// TestLinkDeadWhen: a link is dead once it has expired (the desk's clock), once the step is
// decided by someone else, once the delegation it came through has ended, and when the person
// it decides for is not (or no longer) an approver of the step.
func TestLinkDeadWhen(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		bob, erin := f.person("bob"), f.person("erin")

		// Expired: 73 hours on, by the desk's clock.
		id := f.submitLaptop(t, "alice")
		step := f.openStep(t, id)
		token := f.link(t, id, step, "bob", "bob", catalog.DecisionApprove)
		later := New(Config{Store: f.store, Temporal: f.tc, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
			Now: func() time.Time { return time.Now().Add(73 * time.Hour) }})
		_, err := later.DecideByLink(ctx, token, DecideByLinkInput{})
		wantLink(t, err, ErrGone, ReasonLinkExpired, "expired")
		if st := f.status(t, id); st != catalog.StatusPendingApproval {
			t.Fatalf("an expired link moved %s to %s", id, st)
		}

		// Not an approver: Carol's link for Bob's step (as if she had been removed from it).
		_, err = f.desk.DecideByLink(ctx, f.link(t, id, step, "carol", "carol", catalog.DecisionApprove), DecideByLinkInput{})
		wantLink(t, err, ErrForbidden, ReasonNotApprover, "no longer an approver")

		// Through a delegation: Erin's link decides on Bob's behalf while Bob's delegation lasts.
		dl, err := f.desk.Delegate(ctx, bob, DelegateInput{Delegate: "erin", EndsAt: time.Now().Add(24 * time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		erinsLink := f.link(t, id, step, "erin", "bob", catalog.DecisionApprove)
		v, err := f.desk.OpenLink(ctx, erinsLink)
		if err != nil {
			t.Fatal(err)
		}
		if v.Person.ID != "erin" || v.Principal.ID != "bob" {
			t.Fatalf("Erin's link: %+v", v)
		}
		// Decided by someone else: Erin decides in the portal; Bob's link says so.
		if _, err := f.desk.Decide(ctx, erin, DecideInput{ID: id, Decision: catalog.DecisionApprove}); err != nil {
			t.Fatal(err)
		}
		_, err = f.desk.DecideByLink(ctx, token, DecideByLinkInput{})
		wantLink(t, err, ErrConflict, ReasonStepDecided, "Erin Park (on behalf of Bob Ruiz) already approved")

		// Delegation ended: a second request, Erin's link works until Bob is back.
		id2 := f.submitLaptop(t, "alice")
		step2 := f.openStep(t, id2)
		erins2 := f.link(t, id2, step2, "erin", "bob", catalog.DecisionReject)
		if _, err := f.desk.OpenLink(ctx, erins2); err != nil {
			t.Fatal(err)
		}
		if err := f.desk.EndDelegation(ctx, bob, itoa(dl.ID)); err != nil {
			t.Fatal(err)
		}
		_, err = f.desk.DecideByLink(ctx, erins2, DecideByLinkInput{Comment: "no budget"})
		wantLink(t, err, ErrForbidden, ReasonDelegationEnded, "ended")
		if st := f.status(t, id2); st != catalog.StatusPendingApproval {
			t.Fatalf("a link of an ended delegation moved %s to %s", id2, st)
		}
		// Bob's own link still decides, once, as Bob.
		out, err := f.desk.DecideByLink(ctx, f.link(t, id2, step2, "bob", "bob", catalog.DecisionReject), DecideByLinkInput{Comment: "no budget"})
		if err != nil || out.Status != catalog.StatusRejected {
			t.Fatalf("Bob's link: %+v %v", out, err)
		}
	})
}

// TestDelegateLinkOnOwnStep: a link made for Carol as Bob's delegate, on a step where Carol is an
// approver herself (Ethan's corporate card: his manager Carol and her manager Bob both approve),
// must not decide Carol's own part while its page says "on behalf of Bob": the workflow takes
// an approver's decision as their own, so the link is refused and decides nothing.
func TestDelegateLinkOnOwnStep(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		out, err := f.desk.Submit(ctx, f.person("ethan"), SubmitInput{Service: "corporate-card", Form: map[string]any{"monthly_limit": 1000}})
		if err != nil {
			t.Fatal(err)
		}
		id := out.ID
		step := f.openStep(t, id)
		if _, err := f.desk.Delegate(ctx, f.person("bob"), DelegateInput{Delegate: "carol", EndsAt: time.Now().Add(24 * time.Hour)}); err != nil {
			t.Fatal(err)
		}
		forBob := f.link(t, id, step, "carol", "bob", catalog.DecisionApprove)
		_, err = f.desk.OpenLink(ctx, forBob)
		wantLink(t, err, ErrForbidden, ReasonOwnPart, "Carol Diaz", "approver of step")
		_, err = f.desk.DecideByLink(ctx, forBob, DecideByLinkInput{})
		wantLink(t, err, ErrForbidden, ReasonOwnPart)
		v, err := f.desk.Request(ctx, f.person("ethan"), RequestInput{ID: id})
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range v.State.Approvals[0].Approvers {
			if a.Decision != "" {
				t.Fatalf("the link for Bob decided %s's part: %+v", a.ID, a)
			}
		}
		// Carol's own link still decides her own part.
		if _, err := f.desk.DecideByLink(ctx, f.link(t, id, step, "carol", "carol", catalog.DecisionApprove), DecideByLinkInput{}); err != nil {
			t.Fatal(err)
		}
	})
}

// TestLinkClaimedByACrash: ESM stopped between marking a link used and recording what its use
// did (the process killed mid-decision) must not kill the link for good: while the claim is
// fresh the link says it is in use; after LinkClaimLease, with no outcome recorded, it decides
// (the update id is the link's, so a decision that did reach the workflow is not made twice).
func TestLinkClaimedByACrash(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		id := f.submitLaptop(t, "alice")
		token := f.link(t, id, f.openStep(t, id), "bob", "bob", catalog.DecisionApprove)
		// The crash: claimed, then nothing.
		if ok, err := f.store.ClaimDecisionLink(ctx, store.LinkTokenHash(token), time.Now(), time.Now()); err != nil || !ok {
			t.Fatalf("claim: %v %v", ok, err)
		}
		_, err := f.desk.DecideByLink(ctx, token, DecideByLinkInput{})
		wantLink(t, err, ErrGone, ReasonLinkUsed)
		later := New(Config{Store: f.store, Temporal: f.tc, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
			Now: func() time.Time { return time.Now().Add(LinkClaimLease + time.Second) }})
		out, err := later.DecideByLink(ctx, token, DecideByLinkInput{})
		if err != nil {
			t.Fatalf("a link whose use was cut short by a crash stays dead: %v", err)
		}
		if out.Status != catalog.StatusInFulfilment {
			t.Fatalf("decided: %+v", out)
		}
		_, err = later.OpenLink(ctx, token)
		wantLink(t, err, ErrGone, ReasonLinkUsed, "approved "+id)
	})
}
