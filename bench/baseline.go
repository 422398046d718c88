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

// EquivalentInput says how much work the equivalent baseline does.
type EquivalentInput struct {
	Activities      int
	LocalActivities int
}

// SubmitUpdate is the equivalent baseline's update, sent with update-with-start as ESM's submit is.
const SubmitUpdate = "submit"

// Equivalent runs as many no-op local activities and activities, one after the other, as a
// standard ESM request executes, and answers an update-with-start the way ESM's submit does.
func Equivalent(ctx workflow.Context, in EquivalentInput) error {
	started := false
	if err := workflow.SetUpdateHandler(ctx, SubmitUpdate, func(ctx workflow.Context) (string, error) {
		_ = workflow.Await(ctx, func() bool { return started })
		return "ok", nil
	}); err != nil {
		return err
	}
	lctx := workflow.WithLocalActivityOptions(ctx, workflow.LocalActivityOptions{StartToCloseTimeout: 10 * time.Second})
	for i := 0; i < in.LocalActivities; i++ {
		if err := workflow.ExecuteLocalActivity(lctx, NoOp).Get(ctx, nil); err != nil {
			return err
		}
		started = true
	}
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: 10 * time.Second})
	for i := 0; i < in.Activities; i++ {
		if err := workflow.ExecuteActivity(ctx, NoOp).Get(ctx, nil); err != nil {
			return err
		}
		started = true
	}
	started = true
	return workflow.Await(ctx, func() bool { return workflow.AllHandlersFinished(ctx) })
}
