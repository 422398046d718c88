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
	shapes := map[string]bool{}
	replayed := 0
	var failed []string
	for i := 1; i <= min(int(nextNamespace.Load()), namespaces); i++ {
		ns := fmt.Sprintf("e2e-%d", i)
		c, err := client.Dial(client.Options{HostPort: devServer.FrontendHostPort(), Namespace: ns, Logger: quiet{}})
		if err != nil {
			return replayed, err
		}
		var token []byte
		for {
			page, err := c.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{Namespace: ns, PageSize: 1000, NextPageToken: token})
			if err != nil {
				c.Close()
				return replayed, err
			}
			for _, ex := range page.GetExecutions() {
				id, run := ex.GetExecution().GetWorkflowId(), ex.GetExecution().GetRunId()
				h, err := historyOf(ctx, c, id, run)
				if err != nil {
					c.Close()
					return replayed, err
				}
				if !completedATask(h) {
					continue // nothing ran yet, so there is nothing to replay
				}
				replayed++
				if err := replayer.ReplayWorkflowHistory(nil, h); err != nil {
					failed = append(failed, fmt.Sprintf("%s %s (%s): %v", ns, id, run, err))
					continue
				}
				if shape := shapeOf(ex.GetType().GetName(), h); record != "" && !shapes[shape] {
					shapes[shape] = true
					if err := writeHistory(ctx, filepath.Join(record, fmt.Sprintf("%s-%03d.json", strings.ToLower(ex.GetType().GetName()), len(shapes))), h); err != nil {
						c.Close()
						return replayed, err
					}
				}
			}
			if token = page.GetNextPageToken(); len(token) == 0 {
				break
			}
		}
		c.Close()
	}
	if len(failed) > 0 {
		return replayed, fmt.Errorf("%d of %d histories do not replay:\n%s", len(failed), replayed, strings.Join(failed, "\n"))
	}
	return replayed, nil
}

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
