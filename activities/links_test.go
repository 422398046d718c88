package activities

import (
	"testing"
	"time"

	"github.com/esmhq/esm/catalog"
)

// TestFindLinkStep: an approval mail's links are bound to the step the mail is about: the one
// that opened when a step-opened notification was sent, the one whose reminder or escalation
// fired; none while the read model does not show it yet (the activity is retried).
func TestFindLinkStep(t *testing.T) {
	t0 := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	t1, t2 := t0.Add(time.Hour), t0.Add(2*time.Hour)
	closed := t1
	st := catalog.RequestState{Approvals: []catalog.ApprovalState{
		{Step: 1, OpenedAt: t0, ClosedAt: &closed, Status: catalog.ApprovalApproved},
		{Step: 2, OpenedAt: t1, Status: catalog.ApprovalPending, Reminded: true},
	}}
	step := func(n Notification) int {
		if s := findLinkStep(st, n); s != nil {
			return s.Step
		}
		return 0
	}
	for _, c := range []struct {
		name string
		n    Notification
		want int
	}{
		{"the first step opens", Notification{Kind: "approval.requested", At: t0}, 1},
		{"the second step opens", Notification{Kind: "approval.requested", At: t1}, 2},
		{"a step the read model does not show yet", Notification{Kind: "approval.requested", At: t2}, 0},
		{"the second step's reminder", Notification{Kind: "approval.reminded", At: t2}, 2},
		{"the second step's reminder, named", Notification{Kind: "approval.reminded", At: t2, Step: 2}, 2},
		{"an escalation not shown yet", Notification{Kind: "approval.escalated", At: t2}, 0},
		{"an escalation not shown yet, named", Notification{Kind: "approval.escalated", At: t2, Step: 2}, 0},
		{"a step beyond the read model", Notification{Kind: "approval.reminded", At: t2, Step: 3}, 0},
	} {
		if got := step(c.n); got != c.want {
			t.Errorf("%s: step %d, want %d", c.name, got, c.want)
		}
	}
}
