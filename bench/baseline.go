// Package bench holds the baselines ESM is measured against: workflows on a bare SDK client and
// worker, on the same server, in the same run (esm bench).
package bench

import (
	"context"
	"time"

	"go.temporal.io/sdk/workflow"
)

// TaskQueue is where the baselines run, apart from ESM's.
const TaskQueue = "bench-baseline"

// NoOp is an activity that does nothing.
func NoOp(context.Context) error { return nil }

// MinimalInput is the minimal baseline's input.
type MinimalInput struct{}

// Minimal is a workflow with one no-op activity.
func Minimal(ctx workflow.Context, _ MinimalInput) error {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: 10 * time.Second})
	return workflow.ExecuteActivity(ctx, NoOp).Get(ctx, nil)
}

// EquivalentInput says how much work an equivalent baseline does: no-op local activities and
// activities, and child workflows that each do their own share.
type EquivalentInput struct {
	Activities      int
	LocalActivities int
	Children        []EquivalentInput `json:",omitempty"`
}

// SubmitUpdate is the equivalent baseline's update, sent with update-with-start as ESM's submit is.
const SubmitUpdate = "submit"

// Equivalent does the Temporal work of a standard ESM request with no-ops, in the same order:
// it answers an update-with-start once its first local activity is done (ESM's submit answers
// once the read model holds the request), then runs its children to completion, then the rest
// of its local activities and its activities, one after the other.
func Equivalent(ctx workflow.Context, in EquivalentInput) error {
	started := false
	if err := workflow.SetUpdateHandler(ctx, SubmitUpdate, func(ctx workflow.Context) (string, error) {
		_ = workflow.Await(ctx, func() bool { return started })
		return "ok", nil
	}); err != nil {
		return err
	}
	if err := work(ctx, in, func() { started = true }); err != nil {
		return err
	}
	started = true
	return workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) })
}

// EquivalentChild is an equivalent baseline's child workflow.
func EquivalentChild(ctx workflow.Context, in EquivalentInput) error {
	return work(ctx, in, func() {})
}

// work runs in's no-ops; first is called after the first of them.
func work(ctx workflow.Context, in EquivalentInput, first func()) error {
	lctx := workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{StartToCloseTimeout: 10 * time.Second})
	actx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: 10 * time.Second})
	locals := in.LocalActivities
	if locals > 0 {
		if err := workflow.ExecuteLocalActivity(lctx, NoOp).Get(ctx, nil); err != nil {
			return err
		}
		locals--
		first()
	}
	var children []workflow.Future
	for _, c := range in.Children {
		children = append(children, workflow.ExecuteChildWorkflow(ctx, EquivalentChild, c))
	}
	for _, f := range children {
		if err := f.Get(ctx, nil); err != nil {
			return err
		}
	}
	for ; locals > 0; locals-- {
		if err := workflow.ExecuteLocalActivity(lctx, NoOp).Get(ctx, nil); err != nil {
			return err
		}
	}
	for i := 0; i < in.Activities; i++ {
		if err := workflow.ExecuteActivity(actx, NoOp).Get(ctx, nil); err != nil {
			return err
		}
		first()
	}
	return nil
}

// DecideUpdate is the decision baseline's update, sent to a running Decidable workflow as ESM's
// decision is sent to a request pending approval.
const DecideUpdate = "decide"

// DecidableInput says how many no-op local activities a Decidable workflow runs once decided.
type DecidableInput struct {
	LocalActivities int
}

// Decidable is the bare counterpart of a request waiting for one approval: it waits for its
// decide update, which answers once the first no-op local activity after it is done (ESM's
// decision answers once the read model holds it), then runs the rest of its local activities
// and completes.
func Decidable(ctx workflow.Context, in DecidableInput) error {
	decided, answered := false, false
	if err := workflow.SetUpdateHandler(ctx, DecideUpdate, func(ctx workflow.Context) (string, error) {
		decided = true
		_ = workflow.Await(ctx, func() bool { return answered })
		return "ok", nil
	}); err != nil {
		return err
	}
	if err := workflow.Await(ctx, func() bool { return decided }); err != nil {
		return err
	}
	lctx := workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{StartToCloseTimeout: 10 * time.Second})
	for i := 0; i < max(1, in.LocalActivities); i++ {
		if err := workflow.ExecuteLocalActivity(lctx, NoOp).Get(ctx, nil); err != nil {
			return err
		}
		answered = true
	}
	return workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) })
}
