package workflows

import (
	"fmt"
	"time"

	"github.com/esmhq/esm/activities"
	"github.com/esmhq/esm/catalog"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// DirectoryChangeWorkflowID is the workflow id of a recorded directory change: the change's key
// (store.DirectoryChange.Key), so that a change handed over twice runs once.
func DirectoryChangeWorkflowID(key string) string { return "directory-change/" + key }

// DirectoryChangeIn is a recorded change (store.DirectoryChange): its key, the person's id,
// its kind (ChangeLeft, ChangeMoved), what happened in words, and when (UTC).
type DirectoryChangeIn struct {
	Key    string
	Person string
	Kind   string
	Detail string
	At     time.Time
}

// DirectoryChangeReport says what a change did: delegations ended, services flagged, and per
// request whether it took the update.
type DirectoryChangeReport struct {
	Delegations int
	Services    []string
	Requests    map[string]bool
}

// DirectoryChange applies a recorded leaver or mover change to everything in flight: a leaver's
// delegations end (at the change's instant), the services they own are flagged and their
// department heads told; then every open request that waits on the person, or that they made,
// gets DirectoryChangeUpdate under DirectoryChangeUpdateID(key). Every step is an idempotent
// activity, retried until it succeeds.
func DirectoryChange(ctx workflow.Context, in DirectoryChangeIn) (DirectoryChangeReport, error) {
	rep := DirectoryChangeReport{Requests: map[string]bool{}}
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: time.Minute,
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: time.Minute}})
	var dc *activities.DirectoryChanges
	var who activities.ChangedPerson
	if err := workflow.ExecuteActivity(actx, dc.ChangedPerson, in.Person).Get(ctx, &who); err != nil {
		return rep, err
	}
	var notes []workflow.Future
	if in.Kind == ChangeLeft {
		if err := workflow.ExecuteActivity(actx, dc.EndDelegations, activities.EndDelegationsInput{Person: in.Person, At: in.At}).Get(ctx, &rep.Delegations); err != nil {
			return rep, err
		}
		var flagged []activities.FlaggedService
		if err := workflow.ExecuteActivity(actx, dc.FlagOwnedServices, who).Get(ctx, &flagged); err != nil {
			return rep, err
		}
		for _, f := range flagged {
			rep.Services = append(rep.Services, f.Key)
			n := activities.Notification{ID: fmt.Sprintf("%s.%s.service.owner_left", DirectoryChangeWorkflowID(in.Key), f.Key),
				Kind: "service.owner_left", Category: activities.CategoryAction, To: f.Heads, At: in.At, Department: f.Department,
				Subject: fmt.Sprintf("Service %s needs a new owner", f.Key),
				Text:    fmt.Sprintf("%s, who owns %s, left (%s). Publish a version of %s naming a new owner.", who.Name, f.Key, in.Detail, f.Key),
				Why:     "you head the department of " + f.Key + " or of its owner"}
			nctx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: 30 * time.Second,
				RetryPolicy: notifyRetry, ScheduleToCloseTimeout: notifyBudget})
			// Told in the background of the change: a mail server that is down delays the mail, not the requests.
			notes = append(notes, workflow.ExecuteActivity(nctx, (*activities.Notifications).Notify, activities.NotifyInput{Notification: n}))
		}
	}
	var ids []string
	if err := workflow.ExecuteActivity(actx, dc.RequestsWaitingOn, in.Person).Get(ctx, &ids); err != nil {
		return rep, err
	}
	up := DirectoryChangeInput{Key: in.Key, Kind: in.Kind, Detail: in.Detail,
		Person: catalog.PersonRef{ID: who.ID, Name: who.Name, Department: who.Department}, Manager: who.Manager, Department: who.Department}
	for _, id := range ids {
		var res activities.TellRequestResult
		err := workflow.ExecuteActivity(actx, dc.TellRequest, activities.TellRequestInput{WorkflowID: RequestWorkflowID(id),
			Update: DirectoryChangeUpdate, UpdateID: DirectoryChangeUpdateID(in.Key), Arg: up}).Get(ctx, &res)
		if err != nil {
			return rep, err
		}
		rep.Requests[id] = res.Applied
	}
	// The notifications to the heads finish before the change does.
	for _, f := range notes {
		if err := f.Get(ctx, nil); err != nil {
			workflow.GetLogger(ctx).Warn("tell the department heads", "error", err)
		}
	}
	return rep, nil
}
