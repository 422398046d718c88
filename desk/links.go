package desk

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/esmhq/esm/catalog"
	"github.com/esmhq/esm/store"
)

// Reasons of the errors OpenLink and DecideByLink return, for the page that explains them.
const (
	// ReasonLinkUnknown (ErrNotFound): the token is not one ESM made (or it was mistyped).
	ReasonLinkUnknown = "link-unknown"
	// ReasonLinkUsed (ErrGone): the link decided already.
	ReasonLinkUsed = "link-used"
	// ReasonLinkExpired (ErrGone): the link's time ran out (its step's due time, or 72 hours).
	ReasonLinkExpired = "link-expired"
	// ReasonStepDecided (ErrConflict): the step, or the approver's part of it, is decided (by
	// anyone), or the request is no longer waiting on approval.
	ReasonStepDecided = "step-decided"
	// ReasonNotApprover (ErrForbidden): the approver the link decides for is no longer on the
	// step (or no longer in the directory).
	ReasonNotApprover = "not-approver"
	// ReasonDelegationEnded (ErrForbidden): the delegation the link came through has ended.
	ReasonDelegationEnded = "delegation-ended"
	// ReasonOwnPart (ErrForbidden): a delegate's link, on a step where the delegate is an
	// approver in their own name: the workflow takes an approver's decision as their own
	// (approverFor), so the link would decide the delegate's part, not the principal's.
	ReasonOwnPart = "own-part"
)

// LinkView is what an approval mail's link stands for, as its confirmation page shows it.
type LinkView struct {
	// Request is the request as the person the link was made for may see it (live).
	Request catalog.RequestState
	// Step is the step the link decides.
	Step catalog.ApprovalState
	// Person is whom the link was made for, who decides when it is used; Principal is the
	// approver whose decision it makes (Person, or whoever delegated to them).
	Person    catalog.PersonRef
	Principal catalog.PersonRef
	// Decision is what the link proposes: catalog.DecisionApprove or catalog.DecisionReject.
	Decision  string
	ExpiresAt time.Time
}

// linkErr is a refusal of a link, with the request it names when the token resolved.
func linkErr(kind error, reason, request, format string, args ...any) error {
	e := kindErr(kind, format, args...)
	e.Reason, e.Request = reason, request
	return e
}

// OpenLink answers what an approval mail's link (its token) would decide, and whether it still
// may: the token is the credential, for this one action, of the person it was made for. Opening
// decides nothing. Liveness is read from the request as it is now (its workflow, else the read
// model), the directory and the delegations, never from a copy kept with the link.
//
// Errors (each an *Error with a Reason*): ErrNotFound (ReasonLinkUnknown: nothing about any
// request is said); ErrGone (ReasonLinkUsed, ReasonLinkExpired); ErrConflict
// (ReasonStepDecided: the detail says who decided, and when); ErrForbidden (ReasonNotApprover,
// ReasonDelegationEnded). Other errors are failures (the database, Temporal).
func (d *Desk) OpenLink(ctx context.Context, token string) (LinkView, error) {
	v, _, err := d.openLink(ctx, token)
	return v, err
}

func (d *Desk) openLink(ctx context.Context, token string) (LinkView, store.DecisionLink, error) {
	l, err := d.store.DecisionLinkOf(ctx, token)
	if errors.Is(err, store.ErrNotFound) {
		return LinkView{}, l, linkErr(ErrNotFound, ReasonLinkUnknown, "", "this link is not one of ours, or it was cut short: open the request from the portal instead")
	}
	if err != nil {
		return LinkView{}, l, fmt.Errorf("decision link: %w", err)
	}
	now := d.now()
	if l.UsedAt != nil && (l.Outcome != "" || now.Sub(*l.UsedAt) < LinkClaimLease) {
		what := "it was used"
		if l.Outcome != "" {
			what = "it " + l.Outcome + " " + l.Request
		}
		return LinkView{}, l, linkErr(ErrGone, ReasonLinkUsed, l.Request, "This link was used on %s: %s. A link decides once.", stamp(*l.UsedAt), what)
	}
	if !now.Before(l.ExpiresAt) {
		return LinkView{}, l, linkErr(ErrGone, ReasonLinkExpired, l.Request, "This link expired on %s. If %s still waits on you, decide it in the portal.", stamp(l.ExpiresAt), l.Request)
	}
	person, err := d.store.Person(ctx, l.Person)
	if errors.Is(err, store.ErrNotFound) {
		return LinkView{}, l, linkErr(ErrForbidden, ReasonNotApprover, l.Request, "%s is no longer in the directory: this link decides nothing", l.Person)
	}
	if err != nil {
		return LinkView{}, l, fmt.Errorf("person %s: %w", l.Person, err)
	}
	st, err := d.store.Request(ctx, l.Request)
	if errors.Is(err, store.ErrNotFound) {
		return LinkView{}, l, linkErr(ErrNotFound, ReasonLinkUnknown, "", "this link is not one of ours, or it was cut short: open the request from the portal instead")
	}
	if err != nil {
		return LinkView{}, l, fmt.Errorf("request %s: %w", l.Request, err)
	}
	if !catalog.Terminal(st.Status) {
		// The live state: a decision made a moment ago may not be in the read model yet.
		if live, err := d.liveState(ctx, st.ID); err == nil {
			st = live
		} else {
			d.log.WarnContext(ctx, "query failed; the link is checked against the read model", "request", st.ID, "error", err)
		}
	}
	st = st.UTC()
	i := slices.IndexFunc(st.Approvals, func(a catalog.ApprovalState) bool { return a.Step == l.Step })
	if i < 0 {
		return LinkView{}, l, linkErr(ErrNotFound, ReasonLinkUnknown, "", "this link is not one of ours, or it was cut short: open the request from the portal instead")
	}
	step := st.Approvals[i]
	v := LinkView{Request: st, Step: step, Person: Ref(person), Principal: catalog.PersonRef{ID: l.Principal, Name: l.Principal}, Decision: l.Decision, ExpiresAt: l.ExpiresAt}
	if open := st.OpenStep(); open == nil || open.Step != step.Step {
		return v, l, linkErr(ErrConflict, ReasonStepDecided, st.ID, "%s", settled(st, step))
	}
	j := slices.IndexFunc(step.Approvers, func(a catalog.Approver) bool { return a.ID == l.Principal })
	if j < 0 {
		return v, l, linkErr(ErrForbidden, ReasonNotApprover, st.ID, "%s is no longer an approver of step %q of %s: this link decides nothing", l.Principal, step.Name, st.ID)
	}
	a := step.Approvers[j]
	v.Principal = a.PersonRef
	if a.Decision != "" {
		by := a.Name
		if a.DecidedBy != nil {
			by = a.DecidedBy.Name + " (on behalf of " + a.Name + ")"
		}
		return v, l, linkErr(ErrConflict, ReasonStepDecided, st.ID, "%s already %s step %q of %s on %s.", by, past(a.Decision), step.Name, st.ID, stampP(a.DecidedAt))
	}
	if l.Person != l.Principal && slices.ContainsFunc(step.Approvers, func(a catalog.Approver) bool { return a.ID == l.Person }) {
		return v, l, linkErr(ErrForbidden, ReasonOwnPart, st.ID, "%s is an approver of step %q of %s in their own name: a decision of theirs is their own, never %s's on their behalf, so this link decides nothing; decide your own part in the portal",
			person.Name, step.Name, st.ID, a.Name)
	}
	if l.Person != l.Principal {
		delegators, err := d.store.Delegators(ctx, l.Person, now)
		if err != nil {
			return LinkView{}, l, fmt.Errorf("delegators of %s: %w", l.Person, err)
		}
		if !slices.Contains(delegators, l.Principal) {
			return v, l, linkErr(ErrForbidden, ReasonDelegationEnded, st.ID, "%s's delegation to %s has ended: this link decides nothing; %s decides %s", a.Name, person.Name, a.Name, st.ID)
		}
	}
	return v, l, nil
}

// LinkClaimLease is how long a link's use holds it without an outcome: a use that neither
// recorded what it did nor gave the link back within it (ESM stopped mid-decision) lets the
// link be used again. It outlasts any one decision (the update's own timeout); a decision that
// did reach the workflow is not made twice, the update id being the link's.
const LinkClaimLease = 2 * time.Minute

// DecideByLinkInput is what the link's confirmation page sends: a comment (required to reject:
// the reason, as in the portal).
type DecideByLinkInput struct {
	Comment string
}

// DecideByLink makes the decision a link proposes, as the person it was made for (a delegate's
// link decides as the delegate on behalf of the approver who delegated, as Decide does), through
// the same checks and workflow validators as Decide. The link is marked used before the
// decision is sent, so of two uses one decides and the other is told the link was used; a use
// that decided nothing (ESM failed, or the workflow refused) gives the link back. The decision's
// update id is the link's, so a retry after a timeout attaches to the first.
//
// Errors: those of OpenLink, at the moment of use; *ValidationError (a rejection without a
// reason, a comment too long); those of Decide.
func (d *Desk) DecideByLink(ctx context.Context, token string, in DecideByLinkInput) (Decided, error) {
	v, l, err := d.openLink(ctx, token)
	if err != nil {
		return Decided{}, err
	}
	person, err := d.store.Person(ctx, l.Person)
	if err != nil {
		return Decided{}, fmt.Errorf("person %s: %w", l.Person, err)
	}
	din := DecideInput{ID: v.Request.ID, Decision: l.Decision, Comment: in.Comment}
	if err := checkDecision(din); err != nil {
		return Decided{}, err
	}
	now := d.now()
	claimed, err := d.store.ClaimDecisionLink(ctx, l.Hash, now, now.Add(-LinkClaimLease))
	if err != nil {
		return Decided{}, err
	}
	if !claimed {
		return Decided{}, linkErr(ErrGone, ReasonLinkUsed, l.Request, "This link was used a moment ago. A link decides once.")
	}
	var onBehalf []string
	if l.Person != l.Principal {
		onBehalf = []string{l.Principal}
	}
	out, err := d.sendDecision(WithUpdateID(ctx, "link-"+l.Hash[:32]), person, v.Request.ID, onBehalf, din)
	if err != nil {
		// Nothing was decided through this link: give it back, so that opening it again says
		// why (the step decided meanwhile) or lets the person retry (ESM was unavailable).
		if rerr := d.store.ReleaseDecisionLink(context.WithoutCancel(ctx), l.Hash); rerr != nil {
			d.log.ErrorContext(ctx, "release decision link", "request", l.Request, "error", rerr)
		}
		return Decided{}, err
	}
	if err := d.store.FinishDecisionLink(context.WithoutCancel(ctx), l.Hash, past(l.Decision)); err != nil {
		d.log.WarnContext(ctx, "record decision link outcome", "request", l.Request, "error", err)
	}
	return out, nil
}

// settled says how a step that no longer waits was settled: who decided it and when, or how it
// closed (expired, the request cancelled).
func settled(st catalog.RequestState, step catalog.ApprovalState) string {
	if step.Status == catalog.ApprovalPending {
		return fmt.Sprintf("%s is %s: step %q no longer waits for a decision.", st.ID, strings.ReplaceAll(st.Status, "_", " "), step.Name)
	}
	var who []string
	for _, a := range step.Approvers {
		if a.Decision == "" {
			continue
		}
		by := a.Name
		if a.DecidedBy != nil {
			by = a.DecidedBy.Name + " (on behalf of " + a.Name + ")"
		}
		who = append(who, fmt.Sprintf("%s already %s this step on %s", by, past(a.Decision), stampP(a.DecidedAt)))
	}
	if len(who) > 0 {
		return fmt.Sprintf("%s (step %q of %s).", strings.Join(who, "; "), step.Name, st.ID)
	}
	if step.Outcome != "" {
		return fmt.Sprintf("Step %q of %s closed without a decision (%s) on %s.", step.Name, st.ID, step.Outcome, stampP(step.ClosedAt))
	}
	return fmt.Sprintf("Step %q of %s is %s.", step.Name, st.ID, step.Status)
}

// past is a decision in the past tense: approved, rejected.
func past(decision string) string {
	switch decision {
	case catalog.DecisionApprove:
		return "approved"
	case catalog.DecisionReject:
		return "rejected"
	case catalog.DecisionRequestInfo:
		return "asked for information on"
	}
	return decision
}

func stamp(t time.Time) string { return t.UTC().Format("2 Jan 2006 15:04 UTC") }

func stampP(t *time.Time) string {
	if t == nil {
		return "an unknown date"
	}
	return stamp(*t)
}
