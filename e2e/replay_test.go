package e2e

import (
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/esmhq/esm/worker"
	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/proxy"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"
	"google.golang.org/protobuf/encoding/protojson"
)

// replayEverything replays the history of every workflow the run started, in every namespace it
// used, against the code, as a worker picking them up after a deploy would: a change that would
// break a workflow in flight (one that is not deterministic) fails the run here. With
// ESM_RECORD_HISTORIES=dir it also writes one history of each shape there, payloads decrypted,
// for the replay test of workflows/testdata/histories that keeps later code compatible with them.
func replayEverything(ctx context.Context, record string) (int, error) {
	replayer, err := sdkworker.NewWorkflowReplayerWithOptions(sdkworker.WorkflowReplayerOptions{DataConverter: payloadCodec.DataConverter()})
	if err != nil {
		return 0, err
	}
	worker.RegisterWorkflows(replayer)
	r := replay{replayer: replayer, record: record, shapes: map[string]bool{}}
	for i := 1; i <= min(int(nextNamespace.Load()), namespaces); i++ {
		if err := r.namespace(ctx, fmt.Sprintf("e2e-%d", i)); err != nil {
			return r.replayed, err
		}
	}
	if len(r.failed) > 0 {
		return r.replayed, fmt.Errorf("%d of %d histories do not replay:\n%s", len(r.failed), r.replayed, strings.Join(r.failed, "\n"))
	}
	return r.replayed, nil
}

// replay is the state of replayEverything: what it replayed, what failed, what it recorded.
type replay struct {
	replayer sdkworker.WorkflowReplayer
	record   string
	shapes   map[string]bool
	replayed int
	failed   []string
}

// namespace replays every workflow of the namespace ns.
func (r *replay) namespace(ctx context.Context, ns string) error {
	c, err := client.Dial(client.Options{HostPort: devServer.FrontendHostPort(), Namespace: ns, Logger: quiet{}})
	if err != nil {
		return err
	}
	defer c.Close()
	var token []byte
	for {
		page, err := c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Namespace: ns, PageSize: 1000, NextPageToken: token})
		if err != nil {
			return err
		}
		for _, ex := range page.GetExecutions() {
			id, run := ex.GetExecution().GetWorkflowId(), ex.GetExecution().GetRunId()
			h, err := historyOf(ctx, c, id, run)
			if err != nil {
				return err
			}
			if !completedATask(h) {
				continue // nothing ran yet, so there is nothing to replay
			}
			r.replayed++
			if err := r.replayer.ReplayWorkflowHistory(nil, h); err != nil {
				r.failed = append(r.failed, fmt.Sprintf("%s %s (%s): %v", ns, id, run, err))
				continue
			}
			if shape := shapeOf(ex.GetType().GetName(), h); r.record != "" && !r.shapes[shape] {
				r.shapes[shape] = true
				name := fmt.Sprintf("%s-%03d.json", strings.ToLower(ex.GetType().GetName()), len(r.shapes))
				if err := writeHistory(ctx, filepath.Join(r.record, name), h); err != nil {
					return err
				}
			}
		}
		if token = page.GetNextPageToken(); len(token) == 0 {
			return nil
		}
	}
}

// historyOf reads a workflow's whole history (run "" for the latest run).
func historyOf(ctx context.Context, c client.Client, id, run string) (*historypb.History, error) {
	h := &historypb.History{}
	it := c.GetWorkflowHistory(ctx, id, run, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			return nil, fmt.Errorf("history of %s: %w", id, err)
		}
		h.Events = append(h.Events, ev)
	}
	return h, nil
}

// completedATask says whether a worker ever completed a workflow task of the history.
func completedATask(h *historypb.History) bool {
	for _, ev := range h.GetEvents() {
		if ev.GetEventType() == enumspb.EVENT_TYPE_WORKFLOW_TASK_COMPLETED {
			return true
		}
	}
	return false
}

// shapeOf names a history by its workflow type and the kinds of event in it, so that only one
// history of each kind is recorded.
func shapeOf(typ string, h *historypb.History) string {
	kinds := map[string]bool{}
	for _, ev := range h.GetEvents() {
		kinds[ev.GetEventType().String()] = true
	}
	return typ + " " + strings.Join(slices.Sorted(maps.Keys(kinds)), " ")
}

// writeHistory writes a history as the Temporal CLI does, its payloads decrypted.
func writeHistory(ctx context.Context, path string, h *historypb.History) error {
	if err := proxy.VisitPayloads(ctx, h, proxy.VisitPayloadsOptions{
		Visitor: func(_ *proxy.VisitPayloadsContext, p []*commonpb.Payload) ([]*commonpb.Payload, error) {
			return payloadCodec.Decode(p)
		},
	}); err != nil {
		return err
	}
	b, err := protojson.MarshalOptions{Indent: "  "}.Marshal(h)
	if err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}
