package desk

import (
	"context"
	"fmt"

	"github.com/esmhq/esm/catalog"
	"github.com/esmhq/esm/store"
	"github.com/esmhq/esm/workflows"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
)

// startLifecycle starts a service's lifecycle workflow if it is not running. A new service's
// starts with no version: its first draft is stored by the lifecycle, once accepted.
func startLifecycle(ctx context.Context, tc client.Client, si store.ServiceInfo) error {
	_, err := tc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:                       workflows.ServiceWorkflowID(si.Key),
		TaskQueue:                workflows.TaskQueue,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		StaticSummary:            fmt.Sprintf("Service %s (%s)", si.Key, si.Department),
	}, workflows.ServiceLifecycle, workflows.LifecycleInput{Key: si.Key, Stage: si.Stage, Live: si.Live, Draft: si.Draft})
	return err
}

// SyncLifecycles makes sure every service has its lifecycle workflow, and tells each about a
// version published from catalog files since. `esm dev` and `esm catalog apply` call it.
func SyncLifecycles(ctx context.Context, tc client.Client, s *store.Store) error {
	all, err := s.AllServices(ctx)
	if err != nil {
		return err
	}
	for _, si := range all {
		if si.Stage == catalog.StageRetired {
			continue
		}
		if err := startLifecycle(ctx, tc, si); err != nil {
			return fmt.Errorf("lifecycle of %s: %w", si.Key, err)
		}
		v, err := tc.QueryWorkflow(ctx, workflows.ServiceWorkflowID(si.Key), "", workflows.LifecycleQuery)
		if err != nil {
			return fmt.Errorf("lifecycle of %s: %w", si.Key, err)
		}
		var st workflows.LifecycleState
		if err := v.Get(&st); err != nil {
			return err
		}
		if si.Live > st.Live {
			h, err := tc.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{WorkflowID: workflows.ServiceWorkflowID(si.Key),
				UpdateName: workflows.LifecycleUpdate, WaitForStage: client.WorkflowUpdateStageCompleted,
				Args: []any{workflows.LifecycleAction{Actor: catalog.PersonRef{ID: "catalog-apply"}, System: true, Action: workflows.ActionApplied, Version: si.Live}}})
			if err == nil {
				err = h.Get(ctx, nil)
			}
			if err != nil {
				return fmt.Errorf("lifecycle of %s: %w", si.Key, err)
			}
		}
	}
	return nil
}
