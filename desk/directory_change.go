package desk

import (
	"context"
	"errors"
	"fmt"

	"github.com/esmhq/esm/store"
	"github.com/esmhq/esm/workflows"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
)

// directoryChanged hands a recorded leaver/mover change to the DirectoryChange workflow, which
// applies it to what is in flight (ends delegations, flags owned services, sends each affected
// request DirectoryChangeUpdate). The workflow id is the change's key: a change handed over
// twice (a retried call, the reconciler, StartDirectoryChanges) runs once, and a change applied
// before is not applied again (the id may not be reused). Without a Temporal client (tests of
// the store alone) the change is only recorded.
func (d *Desk) directoryChanged(ctx context.Context, c store.DirectoryChange) error {
	if d.temporal == nil {
		return nil
	}
	return StartDirectoryChange(ctx, d.temporal, c)
}

// StartDirectoryChange starts the DirectoryChange workflow of c unless it runs or ran.
func StartDirectoryChange(ctx context.Context, tc client.Client, c store.DirectoryChange) error {
	_, err := tc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                       workflows.DirectoryChangeWorkflowID(c.Key),
		TaskQueue:                workflows.TaskQueue,
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		StaticSummary:            fmt.Sprintf("%s %s: %s", c.Person, c.Kind, c.Detail),
	}, workflows.DirectoryChange, workflows.DirectoryChangeIn{Key: c.Key, Person: c.Person, Kind: c.Kind, Detail: c.Detail, At: c.At.UTC()})
	if isAlreadyStarted(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("start directory change %s: %w", c.Key, err)
	}
	return nil
}

func isAlreadyStarted(err error) bool {
	var started *serviceerror.WorkflowExecutionAlreadyStarted
	return errors.As(err, &started)
}
