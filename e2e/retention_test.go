package e2e

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/esmhq/esm/store/storetest"
	"github.com/esmhq/esm/workflows"
)

// TestRetentionDeletesFiles: a request of a service with `retention: 2s` is withdrawn; its
// retention workflow (retention/<request>) deletes the file 2 s later: the object is gone from
// the file store, the row says deleted, the download answers 410, and GET /v1/requests/{id}
// shows "files deleted: retention 2s after closing" in the timeline. On both databases, with the
// real dev server.
func TestRetentionDeletesFiles(t *testing.T) {
	for _, dialect := range storetest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			e := startEnv(t, freshNamespace(t), storetest.URL(t, dialect), true)
			js, _ := json.Marshal(map[string]any{"service": "test-retention", "form": map[string]any{}})
			b, ct := multipartBody(t, part{"request", "", js}, part{"note", "note.pdf", receiptPDF})
			r := e.call("POST", "/v1/requests", "alice", b, "Content-Type", ct)
			if r.Status != http.StatusCreated {
				t.Fatalf("submit: %d %s", r.Status, r.Raw)
			}
			id := r.Body["id"].(string)
			list := e.call("GET", "/v1/requests/"+id+"/attachments", "alice", nil)
			items, _ := list.Body["items"].([]any)
			if len(items) != 1 {
				t.Fatalf("list: %s", list.Raw)
			}
			file := items[0].(map[string]any)["id"].(string)
			objects := func() int {
				n := 0
				_ = filepath.Walk(e.filesDir, func(_ string, info os.FileInfo, err error) error {
					if err == nil && !info.IsDir() && !strings.HasSuffix(info.Name(), ".attrs") {
						n++
					}
					return nil
				})
				return n
			}
			if n := objects(); n != 1 {
				t.Fatalf("%d objects stored, want 1", n)
			}
			if r := e.call("POST", "/v1/requests/"+id+"/cancel", "alice", map[string]any{"reason": "not needed"}); r.Status != http.StatusOK {
				t.Fatalf("withdraw: %d %s", r.Status, r.Raw)
			}
			// Just closed: still there.
			if d := e.call("GET", "/v1/requests/"+id+"/attachments/"+file, "alice", nil); d.Status != http.StatusOK {
				t.Fatalf("download right after closing: %d", d.Status)
			}
			deadline := time.Now().Add(30 * time.Second)
			var got response
			for {
				got = e.call("GET", "/v1/requests/"+id, "alice", nil)
				if strings.Contains(string(got.Raw), "files.deleted") || time.Now().After(deadline) {
					break
				}
				time.Sleep(200 * time.Millisecond)
			}
			if !strings.Contains(string(got.Raw), "files deleted: retention 2s after closing (1 file)") {
				t.Fatalf("the timeline never said the files went: %s", got.Raw)
			}
			if n := objects(); n != 0 {
				t.Fatalf("%d objects left after retention", n)
			}
			list = e.call("GET", "/v1/requests/"+id+"/attachments", "alice", nil)
			items, _ = list.Body["items"].([]any)
			if len(items) != 1 || items[0].(map[string]any)["deleted_at"] == nil {
				t.Fatalf("the row does not say deleted: %s", list.Raw)
			}
			d := e.call("GET", "/v1/requests/"+id+"/attachments/"+file, "alice", nil)
			if d.Status != http.StatusGone {
				t.Fatalf("download after retention: %d %s", d.Status, d.Raw)
			}
			// The activity deleted the files and wrote the event; the workflow completes in the
			// task after it: wait for that, rather than describe it at once (a CI run caught the
			// completing task still started).
			wctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			if err := e.tc.GetWorkflow(wctx, workflows.RetentionWorkflowID(id), "").Get(wctx, nil); err != nil {
				t.Fatalf("retention workflow: %v", err)
			}
			desc, err := e.tc.DescribeWorkflowExecution(wctx, workflows.RetentionWorkflowID(id), "")
			if err != nil || desc.WorkflowExecutionInfo.Status.String() != "Completed" {
				t.Fatalf("retention workflow: %v %v", desc, err)
			}
		})
	}
}
