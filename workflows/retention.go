package workflows

import (
	"time"

	"github.com/esmhq/esm/activities"
	"github.com/esmhq/esm/catalog"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// RetentionWorkflowID is the workflow id of a request's retention: retention/REQ-000042.
func RetentionWorkflowID(requestID string) string { return "retention/" + requestID }

// RetentionInput starts a RequestRetention: the request, when it closed, and its service's
// retention as pinned in the definition the request was submitted under.
type RetentionInput struct {
	Request   string
	ClosedAt  time.Time
	Retention catalog.Duration
}

// RequestRetention keeps a closed request's files for its service's retention, then deletes
// them (activities.Retention.DeleteRequestFiles: the objects, the rows marked deleted, a
// "files deleted" event in the request's timeline). A request of revision 6 on starts it when it
// closes, as an abandoned child, so the request closes at once and the wait is its own workflow
// (retention/<request> in the Temporal UI): one durable timer, then one activity, retried with
// backoff (up to an hour apart) until it succeeds, as the files must go.
func RequestRetention(ctx workflow.Context, in RetentionInput) (activities.DeleteFilesResult, error) {
	due := in.ClosedAt.Add(in.Retention.Std())
	if wait := due.Sub(workflow.Now(ctx)); wait > 0 {
		if err := workflow.NewTimerWithOptions(ctx, wait, workflow.TimerOptions{Summary: "retention " + in.Retention.String() + " after closing"}).Get(ctx, nil); err != nil {
			return activities.DeleteFilesResult{}, err
		}
	}
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 10 * time.Minute,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: 10 * time.Second, BackoffCoefficient: 2, MaximumInterval: time.Hour},
	})
	var r *activities.Retention
	var res activities.DeleteFilesResult
	err := workflow.ExecuteActivity(ctx, r.DeleteRequestFiles, activities.DeleteFilesInput{Request: in.Request, Retention: in.Retention}).Get(ctx, &res)
	return res, err
}
