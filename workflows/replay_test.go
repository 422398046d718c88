package workflows_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/esmhq/esm/worker"
	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"
)

// TestReplayRecordedHistories replays histories recorded from the end-to-end tests of an earlier
// version (testdata/histories, written by `ESM_RECORD_HISTORIES=dir go test ./e2e`) against the
// code: a change to a workflow that would break requests, tasks or lifecycles already in flight
// fails here, and has to be guarded with workflow.GetVersion.
func TestReplayRecordedHistories(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "histories", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 20 {
		t.Fatalf("%d recorded histories; want the whole set of testdata/histories", len(files))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			r, err := os.Open(f)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			h, err := client.HistoryFromJSON(r, client.HistoryJSONOptions{})
			if err != nil {
				t.Fatal(err)
			}
			replayer := sdkworker.NewWorkflowReplayer()
			worker.RegisterWorkflows(replayer)
			if err := replayer.ReplayWorkflowHistory(nil, h); err != nil {
				t.Fatal(err)
			}
		})
	}
}
