package worker

import (
	"context"
	"errors"
	"fmt"

	"github.com/esmhq/esm/workflows"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
)

// digestSchedule is the schedule EnsureDigestSchedule wants: workflows.Digest every
// workflows.DigestEvery, a run skipped while the one before still runs, a run missed while the
// server was down caught up within an hour.
func digestSchedule() (client.ScheduleSpec, *client.ScheduleWorkflowAction) {
	return client.ScheduleSpec{Intervals: []client.ScheduleIntervalSpec{{Every: workflows.DigestEvery}}},
		&client.ScheduleWorkflowAction{ID: workflows.DigestWorkflowID, Workflow: workflows.Digest,
			TaskQueue: workflows.TaskQueue, WorkflowRunTimeout: workflows.DigestRunTimeout}
}

// EnsureDigestSchedule creates the digest schedule (workflows.DigestScheduleID) in the
// client's namespace, or, when it exists, sets its spec and action to this version's and leaves
// its state alone (an operator's pause stays). Every worker process calls it at start, so
// several workers, restarts and upgrades make one schedule. Errors are the server's (the
// namespace unreachable, the caller not allowed to manage schedules).
func EnsureDigestSchedule(ctx context.Context, c client.Client) error {
	spec, action := digestSchedule()
	sc := c.ScheduleClient()
	_, err := sc.Create(ctx, client.ScheduleOptions{
		ID: workflows.DigestScheduleID, Spec: spec, Action: action,
		Overlap:       enumspb.SCHEDULE_OVERLAP_POLICY_SKIP,
		CatchupWindow: workflows.DigestEvery * 4,
		Note:          "ESM daily digests (created by the worker; docs/NOTIFICATIONS.md)",
	})
	if err == nil {
		return nil
	}
	if !errors.Is(err, temporal.ErrScheduleAlreadyRunning) {
		return fmt.Errorf("create the digest schedule: %w", err)
	}
	err = sc.GetHandle(ctx, workflows.DigestScheduleID).Update(ctx, client.ScheduleUpdateOptions{
		DoUpdate: func(in client.ScheduleUpdateInput) (*client.ScheduleUpdate, error) {
			s := in.Description.Schedule
			s.Spec, s.Action = &spec, action
			if s.Policy != nil {
				s.Policy.Overlap = enumspb.SCHEDULE_OVERLAP_POLICY_SKIP
			}
			return &client.ScheduleUpdate{Schedule: &s}, nil
		},
	})
	if err != nil {
		return fmt.Errorf("update the digest schedule: %w", err)
	}
	return nil
}
