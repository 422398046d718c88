// Package worker builds the ESM Temporal worker: every workflow and activity, registered once.
package worker

import (
	"github.com/esmhq/esm/activities"
	"github.com/esmhq/esm/store"
	"github.com/esmhq/esm/workflows"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
)

// Options tunes the worker.
type Options struct {
	// MaxConcurrentActivities caps activities running at once (0: the SDK default).
	MaxConcurrentActivities int
	// Pollers is how many long polls the worker keeps open on each kind of task queue (workflow
	// tasks, activity tasks): 0 scales them with the load (the default), n > 0 keeps n, and
	// n < 0 keeps the SDK's own default of two. With too few open polls, tasks that arrive
	// while every poll is busy wait in the server's backlog, and the tail latency of a submit
	// grows to seconds under load (docs/BENCHMARKS.md).
	Pollers int
	// Notifier delivers notifications; nil logs them.
	Notifier activities.Notifier
}

// SDK returns the SDK worker options these stand for; the benchmark's bare baseline worker
// runs with the same ones, so that the two are compared like for like.
func (o Options) SDK() worker.Options {
	w := worker.Options{MaxConcurrentActivityExecutionSize: o.MaxConcurrentActivities}
	switch {
	case o.Pollers == 0:
		w.WorkflowTaskPollerBehavior = worker.NewPollerBehaviorAutoscaling(worker.PollerBehaviorAutoscalingOptions{})
		w.ActivityTaskPollerBehavior = worker.NewPollerBehaviorAutoscaling(worker.PollerBehaviorAutoscalingOptions{})
	case o.Pollers > 0:
		w.WorkflowTaskPollerBehavior = worker.NewPollerBehaviorSimpleMaximum(worker.PollerBehaviorSimpleMaximumOptions{MaximumNumberOfPollers: o.Pollers})
		w.ActivityTaskPollerBehavior = worker.NewPollerBehaviorSimpleMaximum(worker.PollerBehaviorSimpleMaximumOptions{MaximumNumberOfPollers: o.Pollers})
	}
	return w
}

// New returns a worker on workflows.TaskQueue with every ESM workflow and activity registered.
func New(c client.Client, s *store.Store, opts Options) worker.Worker {
	w := worker.New(c, workflows.TaskQueue, opts.SDK())
	Register(w, s, opts.Notifier)
	return w
}

// Register adds every workflow and activity to a registry (a worker, or a test environment).
func Register(r worker.Registry, s *store.Store, n activities.Notifier) {
	if n == nil {
		n = activities.LogNotifier{}
	}
	RegisterWorkflows(r)
	r.RegisterActivity(&activities.Catalog{Store: s})
	r.RegisterActivity(&activities.Fulfilment{})
	r.RegisterActivity(&activities.Directory{Store: s})
	r.RegisterActivity(&activities.Projection{Store: s})
	r.RegisterActivity(&activities.Notifications{Notifier: n})
}

// RegisterWorkflows adds every workflow to a registry: a worker, a test environment, or a
// replayer that checks recorded histories against the code.
func RegisterWorkflows(r worker.WorkflowRegistry) {
	r.RegisterWorkflow(workflows.ServiceRequest)
	r.RegisterWorkflow(workflows.FulfilmentTask)
	r.RegisterWorkflow(workflows.ServiceLifecycle)
}
