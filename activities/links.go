package activities

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/esmhq/esm/catalog"
	"github.com/esmhq/esm/notify"
	"github.com/esmhq/esm/store"
	"go.temporal.io/sdk/activity"
)

// LinkLifetime is the longest an approval mail's link works: 72 hours from when it is made,
// or less when its step is due sooner.
const LinkLifetime = 72 * time.Hour

// linkKinds are the notifications whose mails carry Approve and Reject links (issue 19, point
// 4): a step opens, its reminder, its escalation.
var linkKinds = map[string]bool{"approval.requested": true, "approval.reminded": true, "approval.escalated": true}

// linkStepAttempts is how many attempts of the notify activity wait for the read model to show
// the step an approval mail is about (it is written beside the mail, and may be a moment
// behind); later attempts send the mail without links, and say so in the operators' log.
const linkStepAttempts = 4

// linker returns what makes the links of one recipient's mail: for an approval mail to an
// approver or their delegate, an Approve and a Reject link, each a new single-use token bound to
// the recipient, the approver they decide for, the request, the step and the decision (the
// store keeps only its hash). The tokens are made here, in the activity, when the mail goes out,
// never in the workflow's history. A retried activity makes new ones for the mails it sends
// again: each is bound the same way, and the desk checks liveness when one is used.
func (n *Notifications) linker(ctx context.Context, note Notification) func(recipient) ([]notify.Action, error) {
	none := func(recipient) ([]notify.Action, error) { return nil, nil }
	if !linkKinds[note.Kind] || note.Request == "" || n.Store == nil {
		return none
	}
	var (
		step   *catalog.ApprovalState
		looked bool
	)
	return func(r recipient) ([]notify.Action, error) {
		if r.principal == "" {
			return nil, nil
		}
		if !looked {
			looked = true
			s, err := n.linkStep(ctx, note)
			if err != nil {
				return nil, err
			}
			step = s
		}
		if step == nil {
			return nil, nil
		}
		now := time.Now().UTC()
		until := now.Add(LinkLifetime)
		if due := linkDue(*step, now); due != nil && due.Before(until) {
			until = *due
		}
		var out []notify.Action
		for _, d := range []struct{ decision, label string }{{catalog.DecisionApprove, "Approve"}, {catalog.DecisionReject, "Reject"}} {
			token, err := n.Store.CreateDecisionLink(ctx, store.DecisionLink{Request: note.Request, Step: step.Step, Person: r.key,
				Principal: r.principal, Decision: d.decision, Notification: note.ID, CreatedAt: now, ExpiresAt: until})
			if err != nil {
				return nil, err
			}
			out = append(out, notify.Action{Label: d.label, Kind: d.decision, Path: "/link/" + token, Until: until})
		}
		return out, nil
	}
}

// linkStep finds the step an approval notification is about in the read model: the step that
// opened when the notification was sent (approval.requested), or the step open then whose
// reminder or escalation has fired. nil, with a warning in the operators' log, when the read
// model does not show it after linkStepAttempts attempts (the mail then goes without links); an
// error before, so that the activity is retried while the read model catches up.
func (n *Notifications) linkStep(ctx context.Context, note Notification) (*catalog.ApprovalState, error) {
	st, err := n.Store.Request(ctx, note.Request)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("request %s for its links: %w", note.Request, err)
	}
	if err == nil {
		if s := findLinkStep(st, note); s != nil {
			return s, nil
		}
	}
	if activity.IsActivity(ctx) && activity.GetInfo(ctx).Attempt < linkStepAttempts {
		return nil, fmt.Errorf("the read model does not show the step of %s yet", note.ID)
	}
	log := n.Log
	if log == nil {
		log = slog.Default()
	}
	log.WarnContext(ctx, "approval mail sent without decision links: the read model does not show its step", "notification", note.ID, "request", note.Request)
	return nil, nil
}

// findLinkStep is the step of st an approval notification is about (nil when none matches).
func findLinkStep(st catalog.RequestState, note Notification) *catalog.ApprovalState {
	at := note.At.UTC()
	if note.Step > 0 && note.Kind != "approval.requested" {
		// A reminder or escalation names its step (its place among the request's steps); the
		// read model shows it once the reminder or escalation has fired there.
		if note.Step > len(st.Approvals) {
			return nil
		}
		s := &st.Approvals[note.Step-1]
		if (note.Kind == "approval.reminded" && s.Reminded) || (note.Kind == "approval.escalated" && s.Escalated) {
			return s
		}
		return nil
	}
	for i := len(st.Approvals) - 1; i >= 0; i-- {
		s := &st.Approvals[i]
		opened := s.OpenedAt.UTC()
		switch note.Kind {
		case "approval.requested":
			if opened.Equal(at) {
				return s
			}
		case "approval.reminded", "approval.escalated":
			fired := s.Reminded
			if note.Kind == "approval.escalated" {
				fired = s.Escalated
			}
			if !opened.After(at) && fired && (s.ClosedAt == nil || !s.ClosedAt.Before(at)) {
				return s
			}
		}
		if opened.Before(at) {
			return nil // steps are in order: an earlier one is not it
		}
	}
	return nil
}

// linkDue is when a step's links stop working because of the step: its expiry, else its
// escalation while it is still to come (an escalation adds approvers; the ones asked before
// may still decide, but their mail's links end there and the escalation's reminder is theirs
// to follow in the portal). nil: the step sets no limit.
func linkDue(s catalog.ApprovalState, now time.Time) *time.Time {
	if s.ExpireAt != nil {
		return s.ExpireAt
	}
	if s.EscalateAt != nil && !s.Escalated && s.EscalateAt.After(now) {
		return s.EscalateAt
	}
	return nil
}
