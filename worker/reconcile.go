package worker

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/esmhq/esm/catalog"
	"github.com/esmhq/esm/files"
	"github.com/esmhq/esm/store"
	"github.com/esmhq/esm/workflows"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
)

// Reconciler closes in the read model the requests whose workflow closed without writing its
// final state: a workflow an operator terminated, one that timed out (no workflow code runs
// for either), and requests of revisions before 4 that an operator cancelled (their workflow
// ended without projecting). A request of revision 4 projects every way out itself (an
// operator's cancel, a failure); the reconciler is the net under what no workflow code sees.
//
// It asks visibility, not the read model, which workflows to look at: request workflows that
// are closed, closed since the scan before (at start, since the oldest open request was
// submitted), and whose EsmStatus still says open. That is one list call a round however many
// requests are open; each hit is checked against the workflow's current run (a request that
// continued as new, or started again, is left alone) and against the read model (a row closed
// already is left alone), so rounds that overlap, and several worker processes each running
// one, write nothing twice. Writes go through store.ProjectRequest with the next seq, as the
// workflow's own would, so the request leaves every inbox and queue, frees its max_open, and a
// retiring service's lifecycle is told that it closed.
//
// Each round first sweeps the recorded directory changes whose DirectoryChange workflow was not
// started (StartDirectoryChanges, issue 22), and the files of submissions that never started
// their workflow (SweepOrphanFiles, issue 21).
type Reconciler struct {
	Temporal client.Client
	Store    *store.Store
	// Files is the attachments' store (ESM_BLOB_URL); nil: orphan files are not swept.
	Files *files.Store
	// Interval between rounds (0: DefaultReconcileInterval).
	Interval time.Duration
	Logger   *slog.Logger

	since time.Time
}

// DefaultReconcileInterval is how often a worker process reconciles.
const DefaultReconcileInterval = time.Minute

// visibilityLag is how far back each round looks again: a workflow shows in visibility a
// little after it closes.
const visibilityLag = 5 * time.Minute

// Run reconciles every Interval until ctx ends: it starts the recorded directory changes whose
// workflow was not started (StartDirectoryChanges), deletes orphan files (SweepOrphanFiles),
// then closes requests (Once).
func (r *Reconciler) Run(ctx context.Context) error {
	every := r.Interval
	if every <= 0 {
		every = DefaultReconcileInterval
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		if n, err := r.StartDirectoryChanges(ctx); err != nil && ctx.Err() == nil {
			r.log().Warn("start recorded directory changes", "started", n, "error", err)
		}
		if n, err := r.SweepOrphanFiles(ctx); err != nil && ctx.Err() == nil {
			r.log().Warn("sweep orphan files", "deleted", n, "error", err)
		} else if n > 0 {
			r.log().Info("orphan files deleted", "deleted", n)
		}
		if n, err := r.Once(ctx); err != nil && ctx.Err() == nil {
			r.log().Warn("reconcile closed requests", "error", err)
		} else if n > 0 {
			r.log().Info("reconciled closed requests", "closed", n)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

func (r *Reconciler) log() *slog.Logger {
	if r.Logger == nil {
		return slog.Default()
	}
	return r.Logger
}

// Once runs one round and says how many requests it closed in the read model.
func (r *Reconciler) Once(ctx context.Context) (int, error) {
	start := time.Now().UTC()
	if r.since.IsZero() {
		oldest, err := r.Store.OldestOpenRequest(ctx)
		if err != nil {
			return 0, err
		}
		if oldest == nil {
			r.since = start.Add(-visibilityLag)
			return 0, nil
		}
		r.since = oldest.Add(-time.Minute)
	}
	query := fmt.Sprintf("WorkflowType = 'ServiceRequest' AND ExecutionStatus != 'Running' AND CloseTime >= '%s' AND %s IN ('%s')",
		r.since.Format(time.RFC3339Nano), workflows.AttrStatus.GetName(), strings.Join(catalog.OpenStatuses, "', '"))
	closed := 0
	var token []byte
	for {
		page, err := r.Temporal.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Query: query, PageSize: 100, NextPageToken: token})
		if err != nil {
			return closed, fmt.Errorf("list closed requests: %w", err)
		}
		for _, ex := range page.GetExecutions() {
			ok, err := r.reconcile(ctx, ex.GetExecution().GetWorkflowId())
			if err != nil {
				return closed, err
			}
			if ok {
				closed++
			}
		}
		if token = page.GetNextPageToken(); len(token) == 0 {
			break
		}
	}
	r.since = start.Add(-visibilityLag)
	return closed, nil
}

// reconcile closes one request in the read model if its workflow is closed and the read model
// shows it open.
func (r *Reconciler) reconcile(ctx context.Context, workflowID string) (bool, error) {
	id, ok := strings.CutPrefix(workflowID, workflows.RequestWorkflowID(""))
	if !ok {
		return false, nil
	}
	st, err := r.Store.Request(ctx, id)
	if errors.Is(err, store.ErrNotFound) || (err == nil && st.ClosedAt != nil) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	desc, err := r.Temporal.DescribeWorkflowExecution(ctx, workflowID, "")
	if err != nil {
		return false, fmt.Errorf("describe %s: %w", workflowID, err)
	}
	info := desc.GetWorkflowExecutionInfo()
	if info.GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING || info.GetStatus() == enumspb.WORKFLOW_EXECUTION_STATUS_CONTINUED_AS_NEW {
		return false, nil
	}
	status, reason, err := r.why(ctx, workflowID, info.GetExecution().GetRunId(), info.GetStatus())
	if err != nil {
		return false, err
	}
	at := time.Now().UTC()
	if ct := info.GetCloseTime(); ct != nil {
		at = ct.AsTime().UTC()
	}
	Close(&st, status, reason, at)
	p, err := r.Store.ProjectRequest(ctx, st)
	if err != nil {
		return false, err
	}
	r.log().Info("request closed in the read model after its workflow", "request", id, "status", status, "reason", reason)
	if p.ServiceRetiring {
		err := r.Temporal.SignalWorkflow(ctx, workflows.ServiceWorkflowID(st.Service.Key), "", workflows.RequestClosedSignal, st.ID)
		var nf *serviceerror.NotFound
		if err != nil && !errors.As(err, &nf) {
			return p.Wrote, fmt.Errorf("tell %s's lifecycle that %s closed: %w", st.Service.Key, id, err)
		}
	}
	return p.Wrote, nil
}

// why reads how a closed workflow ended: the status the request closes with and the reason.
func (r *Reconciler) why(ctx context.Context, workflowID, runID string, status enumspb.WorkflowExecutionStatus) (string, string, error) {
	switch status {
	case enumspb.WORKFLOW_EXECUTION_STATUS_CANCELED:
		return catalog.StatusCancelled, workflows.OperatorCancelReason, nil
	case enumspb.WORKFLOW_EXECUTION_STATUS_COMPLETED:
		var res workflows.RequestResult
		if err := r.Temporal.GetWorkflow(ctx, workflowID, runID).Get(ctx, &res); err != nil {
			return "", "", fmt.Errorf("result of %s: %w", workflowID, err)
		}
		if catalog.Terminal(res.Status) {
			return res.Status, res.Reason, nil
		}
		return catalog.StatusFailed, "the workflow completed without a final status", nil
	}
	iter := r.Temporal.GetWorkflowHistory(ctx, workflowID, runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_CLOSE_EVENT)
	for iter.HasNext() {
		ev, err := iter.Next()
		if err != nil {
			return "", "", fmt.Errorf("close event of %s: %w", workflowID, err)
		}
		if a := ev.GetWorkflowExecutionTerminatedEventAttributes(); a != nil {
			reason := "terminated by an operator"
			if a.GetReason() != "" {
				reason += ": " + a.GetReason()
			}
			if a.GetIdentity() != "" {
				reason += " (" + a.GetIdentity() + ")"
			}
			return catalog.StatusFailed, reason + "; nothing was compensated", nil
		}
		if a := ev.GetWorkflowExecutionFailedEventAttributes(); a != nil {
			return catalog.StatusFailed, "the workflow failed: " + a.GetFailure().GetMessage(), nil
		}
	}
	if status == enumspb.WORKFLOW_EXECUTION_STATUS_TIMED_OUT {
		return catalog.StatusFailed, "the workflow timed out; nothing was compensated", nil
	}
	return catalog.StatusFailed, "the workflow ended " + strings.ToLower(strings.TrimPrefix(status.String(), "WorkflowExecutionStatus")), nil
}

// Close turns st into the closed state the workflow would have written: status and reason,
// every task not finished cancelled, an audit event, the next seq.
func Close(st *catalog.RequestState, status, reason string, at time.Time) {
	st.Status, st.Stage, st.Reason, st.ClosedAt, st.UpdatedAt = status, status, reason, &at, at
	for i := range st.Tasks {
		if t := &st.Tasks[i]; !catalog.TaskClosed(t.State) {
			t.State, t.ClosedAt = catalog.TaskCancelled, &at
		}
	}
	st.Seq++
	// The next seq after the last event: a state of revision 4 keeps only its latest events.
	st.Timeline = append(st.Timeline, catalog.Event{Seq: st.NextEventSeq(), At: at, Type: status, Actor: "reconciler", Detail: reason})
}

// StartDirectoryChange hands a recorded change to its DirectoryChange workflow (workflow id
// workflows.DirectoryChangeWorkflowID(c.Key)) unless it runs or ran: a running one is used, a
// closed one is not started again (the id may not be reused), and either answers nil, as a
// new start does. An error means Temporal did not take the change (unreachable, say).
func StartDirectoryChange(ctx context.Context, tc client.Client, c store.DirectoryChange) error {
	_, err := tc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                       workflows.DirectoryChangeWorkflowID(c.Key),
		TaskQueue:                workflows.TaskQueue,
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		StaticSummary:            fmt.Sprintf("%s %s: %s", c.Person, c.Kind, c.Detail),
	}, workflows.DirectoryChange, workflows.DirectoryChangeIn{Key: c.Key, Person: c.Person, Kind: c.Kind, Detail: c.Detail, At: c.At.UTC()})
	// "Already started" is what the SDK answers when asked to (WorkflowExecutionErrorWhenAlreadyStarted);
	// by default it answers the existing run without an error.
	var already *serviceerror.WorkflowExecutionAlreadyStarted
	if err != nil && !errors.As(err, &already) {
		return fmt.Errorf("start directory change %s: %w", c.Key, err)
	}
	return nil
}

// sweepBatch is how many unstarted changes a sweep reads at a time.
const sweepBatch = 100

// StartDirectoryChanges is the sweep under the provisioning calls (issue 22): every recorded
// directory change whose workflow was not started (Temporal was down at the SCIM call, or
// `esm catalog apply` recorded it) is started, and marked started (store.MarkChangeStarted),
// oldest first. A change started before, or running, is only marked, so every change is
// applied once however many rounds or worker processes sweep. It answers how many changes it
// marked; a change it could not start stays unmarked for the next round, and the first such
// error is answered after the others were tried.
func (r *Reconciler) StartDirectoryChanges(ctx context.Context) (int, error) {
	marked := 0
	for {
		changes, err := r.Store.UnstartedChanges(ctx, sweepBatch)
		if err != nil {
			return marked, err
		}
		var first error
		for _, c := range changes {
			if err := StartDirectoryChange(ctx, r.Temporal, c); err != nil {
				if first == nil {
					first = err
				}
				continue
			}
			if err := r.Store.MarkChangeStarted(ctx, c.Key, time.Now()); err != nil {
				return marked, err
			}
			marked++
			r.log().Info("directory change handed to its workflow by the sweep", "change", c.Key, "person", c.Person, "kind", c.Kind)
		}
		// A batch with a failure would read the same failures first again: stop till the next round.
		if first != nil || len(changes) < sweepBatch {
			return marked, first
		}
	}
}

// OrphanFileAge is how long a file recorded under a request number with no request may wait for
// its request before SweepOrphanFiles deletes it: far longer than a submission takes between
// recording its files and starting its workflow.
const OrphanFileAge = time.Hour

// SweepOrphanFiles deletes the files of submission attempts that recorded them under their
// reserved number (store.AddAttachmentsOnce) and then never started the workflow, and were
// never retried (issue 21): files recorded more than OrphanFileAge ago under a number with no
// request row and no workflow in Temporal (a workflow started but not yet projected, its worker
// down, keeps its files). For each it deletes the object, then the row, so a round cut short
// leaves a row the next round finds, and a missing object is fine: it is idempotent, and several
// worker processes may sweep at once. It answers how many rows it deleted; a number Temporal did
// not answer about is left for the next round, and the first error is answered after the others
// were tried. Without a file store (Files nil) it does nothing.
//
// A retry of the abandoned submission that comes after the sweep records its own copy of the
// files (the rows are gone, so AddAttachmentsOnce takes them); one that comes during the sweep
// of its number, after the check of Temporal, may find its files deleted.
func (r *Reconciler) SweepOrphanFiles(ctx context.Context) (int, error) {
	if r.Files == nil {
		return 0, nil
	}
	before := time.Now().Add(-OrphanFileAge)
	deleted := 0
	var first error
	fail := func(err error) {
		if first == nil {
			first = err
		}
	}
	checked := map[string]bool{} // request number: no workflow under it
	after := ""
	for {
		list, err := r.Store.OrphanAttachments(ctx, before, after, sweepBatch)
		if err != nil {
			return deleted, err
		}
		for _, a := range list {
			after = a.ID
			orphan, seen := checked[a.Request]
			if !seen {
				_, err := r.Temporal.DescribeWorkflowExecution(ctx, workflows.RequestWorkflowID(a.Request), "")
				var nf *serviceerror.NotFound
				switch {
				case errors.As(err, &nf):
					orphan = true
				case err != nil:
					fail(fmt.Errorf("is there a workflow for %s: %w", a.Request, err))
				}
				checked[a.Request] = orphan
			}
			if !orphan {
				continue
			}
			if err := r.Files.Delete(ctx, a.BlobKey); err != nil {
				fail(fmt.Errorf("delete the orphan file %s of %s: %w", a.ID, a.Request, err))
				continue
			}
			ok, err := r.Store.DeleteOrphanAttachment(ctx, a.ID)
			if err != nil {
				fail(err)
				continue
			}
			if ok {
				deleted++
				r.log().Info("orphan file deleted: its submission never started", "request", a.Request, "file", a.ID, "name", a.Name, "uploaded_at", a.UploadedAt)
			}
		}
		if len(list) < sweepBatch || ctx.Err() != nil {
			return deleted, first
		}
	}
}
