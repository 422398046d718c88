// Package worker builds the ESM Temporal worker: every workflow and activity, registered once.
package worker

import (
	"cmp"
	"log/slog"

	"github.com/esmhq/esm/activities"
	"github.com/esmhq/esm/files"
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
	// tasks, activity tasks): 0 keeps DefaultPollers, n > 0 keeps n, and n < 0 lets the SDK
	// scale them with the load. With too few open polls, a task that arrives while every poll
	// is busy waits in the server's backlog, and the tail latency of a submit grows to seconds;
	// scaled polls fall to one when idle and meet a burst the same way (docs/BENCHMARKS.md).
	Pollers int
	// Notifier delivers notifications when there is no Mail; nil logs them.
	Notifier activities.Notifier
	// Mail sends notifications by email (ESM_SMTP_URL; nil: no mail), with the sent-log in the
	// store; Log is the operators' log, where a recipient without an address is reported.
	Mail activities.Mailer
	Log  *slog.Logger
	// Files is the attachments' store (ESM_BLOB_URL) retention deletes from and the files of an
	// automation's answer are stored in; nil: a retention that comes due waits, retrying, for a
	// worker that has one, and an automation's answer that carries files fails its task.
	Files *files.Store
}

// DefaultPollers is how many polls a worker keeps open per kind of task queue unless told.
const DefaultPollers = 16

// SDK returns the SDK worker options these stand for; the benchmark's bare baseline worker
// runs with the same ones, so that the two are compared like for like.
func (o Options) SDK() worker.Options {
	w := worker.Options{MaxConcurrentActivityExecutionSize: o.MaxConcurrentActivities}
	if o.Pollers < 0 {
		w.WorkflowTaskPollerBehavior = worker.NewPollerBehaviorAutoscaling(worker.PollerBehaviorAutoscalingOptions{})
		w.ActivityTaskPollerBehavior = worker.NewPollerBehaviorAutoscaling(worker.PollerBehaviorAutoscalingOptions{})
	} else {
		n := cmp.Or(o.Pollers, DefaultPollers)
		w.WorkflowTaskPollerBehavior = worker.NewPollerBehaviorSimpleMaximum(worker.PollerBehaviorSimpleMaximumOptions{MaximumNumberOfPollers: n})
		w.ActivityTaskPollerBehavior = worker.NewPollerBehaviorSimpleMaximum(worker.PollerBehaviorSimpleMaximumOptions{MaximumNumberOfPollers: n})
	}
	return w
}

// New returns a worker on workflows.TaskQueue with every ESM workflow and activity registered.
func New(c client.Client, s *store.Store, opts Options) worker.Worker {
	w := worker.New(c, workflows.TaskQueue, opts.SDK())
	RegisterWith(w, s, opts)
	return w
}

// Register adds every workflow and activity to a registry (a worker, or a test environment),
// notifying through n (nil: the log).
func Register(r worker.Registry, s *store.Store, n activities.Notifier) {
	RegisterWith(r, s, Options{Notifier: n})
}

// RegisterWith is Register with the notification options of opts (Notifier, Mail, Log).
func RegisterWith(r worker.Registry, s *store.Store, opts Options) {
	n := opts.Notifier
	if n == nil {
		n = activities.LogNotifier{Log: opts.Log}
	}
	// The store is there for chat channels (docs/NOTIFICATIONS.md) even without a mail server.
	notes := &activities.Notifications{Notifier: n, Log: opts.Log, Store: s}
	if opts.Mail != nil {
		notes.Mail, notes.Store = opts.Mail, s
	}
	RegisterWorkflows(r)
	r.RegisterActivity(&activities.Catalog{Store: s})
	r.RegisterActivity(&activities.Fulfilment{Store: s, Files: opts.Files})
	r.RegisterActivity(&activities.Directory{Store: s})
	r.RegisterActivity(&activities.Projection{Store: s})
	r.RegisterActivity(&activities.DirectoryChanges{Store: s})
	r.RegisterActivity(notes)
	r.RegisterActivity(&activities.Retention{Store: s, Files: opts.Files})
}

// RegisterWorkflows adds every workflow to a registry: a worker, a test environment, or a
// replayer that checks recorded histories against the code.
func RegisterWorkflows(r worker.WorkflowRegistry) {
	r.RegisterWorkflow(workflows.ServiceRequest)
	r.RegisterWorkflow(workflows.FulfilmentTask)
	r.RegisterWorkflow(workflows.ServiceLifecycle)
	r.RegisterWorkflow(workflows.Digest)
	r.RegisterWorkflow(workflows.RequestRetention)
	r.RegisterWorkflow(workflows.DirectoryChange)
}
