package workflows

import (
	"time"

	"github.com/esmhq/esm/activities"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// The daily digest (docs/NOTIFICATIONS.md, "Daily digest") runs from a Temporal Schedule that
// the worker creates at start (worker.EnsureDigestSchedule): every DigestEvery it starts the
// Digest workflow, which calls Notifications.Digests once. The activity decides who is due (a
// department open on the person's local date, no digest sent that day), so a run that finds
// nobody due sends nothing, and a run missed while the cluster was down is made good by the
// next one.
const (
	// DigestScheduleID is the schedule's id in the namespace: one per namespace.
	DigestScheduleID = "esm-digest"
	// DigestWorkflowID is the id of the workflows the schedule starts (the server appends the
	// scheduled time: digest-2026-03-02T08:15:00Z).
	DigestWorkflowID = "digest"
	// DigestEvery is the schedule's interval: a person's digest goes out at most this long
	// after their department opens.
	DigestEvery = 15 * time.Minute
	// DigestRunTimeout bounds one run, shorter than the interval, so runs never pile up (the
	// schedule also skips a run while the one before is still going).
	DigestRunTimeout = 14 * time.Minute
)

// digestRetry: a mail server that is down is tried again within the run; what is still
// unsent when the run ends goes with a later run (the sent-log holds what went out).
var digestRetry = &temporal.RetryPolicy{InitialInterval: 5 * time.Second, BackoffCoefficient: 2, MaximumInterval: time.Minute}

// Digest is one run of the digest schedule: it mails the digests due at the workflow's time
// (Notifications.Digests with Now = workflow.Now) and returns how many went out. It has no
// state and no input, so a run replays from its history alone; each run is a new workflow.
func Digest(ctx workflow.Context) (activities.DigestResult, error) {
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout:    5 * time.Minute,
		ScheduleToCloseTimeout: 12 * time.Minute,
		RetryPolicy:            digestRetry,
		Summary:                "daily digests due",
	})
	var res activities.DigestResult
	err := workflow.ExecuteActivity(actx, (*activities.Notifications).Digests, activities.DigestInput{Now: workflow.Now(ctx)}).Get(ctx, &res)
	return res, err
}
