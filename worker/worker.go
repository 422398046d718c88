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
	// Notifier delivers notifications; nil logs them.
	Notifier activities.Notifier
}

// New returns a worker on workflows.TaskQueue with every ESM workflow and activity registered.
func New(c client.Client, s *store.Store, opts Options) worker.Worker {
	w := worker.New(c, workflows.TaskQueue, worker.Options{
		MaxConcurrentActivityExecutionSize: opts.MaxConcurrentActivities,
	})
	Register(w, s, opts.Notifier)
	return w
}

// Register adds every workflow and activity to a registry (a worker, or a test environment).
func Register(r worker.Registry, s *store.Store, n activities.Notifier) {
	if n == nil {
		n = activities.LogNotifier{}
	}
	r.RegisterWorkflow(workflows.ServiceRequest)
	r.RegisterWorkflow(workflows.FulfilmentTask)
	r.RegisterWorkflow(workflows.ServiceLifecycle)
	r.RegisterActivity(&activities.Catalog{Store: s})
	r.RegisterActivity(&activities.Fulfilment{})
	r.RegisterActivity(&activities.Directory{Store: s})
	r.RegisterActivity(&activities.Projection{Store: s})
	r.RegisterActivity(&activities.Notifications{Notifier: n})
}
