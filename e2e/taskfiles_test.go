package e2e

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/esmhq/esm/examples/hooks"
	"github.com/esmhq/esm/store/storetest"
	"github.com/esmhq/esm/workflows"
)

// TestAutomationFiles is issue 21's "task outputs may carry files" on a real server: the
// automated task of test-signed-letter (testdata/catalog/letters.yaml) is answered by the demo
// document service with a signed letter as base64; the requester lists it as the task's output
// and downloads it through the API, the task's outputs name it by id (never its bytes), it is
// encrypted at rest, and a stranger cannot read it. Both databases.
func TestAutomationFiles(t *testing.T) {
	for _, dialect := range storetest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			e := newEnv(t, dialect)
			r := e.call("POST", "/v1/requests", "alice", map[string]any{"service": "test-signed-letter", "form": map[string]any{}})
			if r.Status != http.StatusCreated {
				t.Fatalf("submit: %d %s", r.Status, r.Raw)
			}
			id := r.Body["id"].(string)
			final := waitFor(t, e, id, "alice", func(r response) bool { return r.Body["status"] == "resolved" || r.Body["status"] == "failed" })
			if final.Body["status"] != "resolved" {
				t.Fatalf("%s ended %v: %s", id, final.Body["status"], final.Raw)
			}
			list := e.call("GET", "/v1/requests/"+id+"/attachments", "alice", nil)
			items, _ := list.Body["items"].([]any)
			if list.Status != http.StatusOK || len(items) != 1 {
				t.Fatalf("list: %d %s", list.Status, list.Raw)
			}
			f := items[0].(map[string]any)
			if f["task"] != "sign" || f["kind"] != "signed_letter" || f["name"] != "letter.pdf" || f["content_type"] != "application/pdf" || f["uploaded_by"] != "automation" {
				t.Errorf("the letter is listed as %v", f)
			}
			file := f["id"].(string)
			// The task's outputs name the file; its bytes are not in the request's state.
			tasks := final.Body["tasks"].([]any)
			outs, _ := tasks[0].(map[string]any)["outputs"].(map[string]any)
			refs, _ := outs["files"].([]any)
			if len(refs) != 1 || refs[0].(map[string]any)["id"] != file || refs[0].(map[string]any)["content_base64"] != nil {
				t.Errorf("the task's outputs: %v", outs)
			}
			want := hooks.SignedLetter(workflows.IdempotencyKey(id, "sign"))
			d := e.call("GET", "/v1/requests/"+id+"/attachments/"+file, "alice", nil)
			if d.Status != http.StatusOK || !bytes.Equal(d.Raw, want) {
				t.Fatalf("alice downloads: %d %q", d.Status, d.Raw)
			}
			if d.Header.Get("Content-Type") != "application/pdf" || d.Header.Get("Content-Disposition") != `attachment; filename=letter.pdf` {
				t.Errorf("download headers: %v", d.Header)
			}
			if d := e.call("GET", "/v1/requests/"+id+"/attachments/"+file, "erin", nil); d.Status != http.StatusNotFound {
				t.Errorf("erin downloads: %d", d.Status)
			}
			if n := e.hooks.Stats().Applied[workflows.IdempotencyKey(id, "sign")]; n != 1 {
				t.Errorf("the document service signed %d times", n)
			}
			at := 0
			_ = filepath.Walk(filepath.Join(e.filesDir, "files"), func(p string, info os.FileInfo, err error) error {
				if err == nil && !info.IsDir() {
					at++
					raw, _ := os.ReadFile(p)
					if bytes.Contains(raw, []byte("signed by the demo")) || bytes.Contains(raw, []byte("%PDF")) {
						t.Errorf("%s holds the letter in clear", p)
					}
				}
				return nil
			})
			if at != 1 {
				t.Errorf("%s objects at rest, want the letter's one", fmt.Sprint(at))
			}
		})
	}
}
