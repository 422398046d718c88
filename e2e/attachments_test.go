package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/esmhq/esm/store/storetest"
)

var receiptPDF = []byte("%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\nTaxi 23.40 EUR\n%%EOF\n")

type part struct {
	field, filename string
	data            []byte
}

// multipartBody writes parts as multipart/form-data: the body and its Content-Type.
func multipartBody(t *testing.T, parts ...part) (string, string) {
	t.Helper()
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	for _, p := range parts {
		h := textproto.MIMEHeader{}
		if p.filename != "" {
			h.Set("Content-Disposition", fmt.Sprintf(`form-data; name=%q; filename=%q`, p.field, p.filename))
			h.Set("Content-Type", "application/octet-stream")
		} else {
			h.Set("Content-Disposition", fmt.Sprintf(`form-data; name=%q`, p.field))
		}
		pw, err := w.CreatePart(h)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = pw.Write(p.data)
	}
	_ = w.Close()
	return buf.String(), w.FormDataContentType()
}

// submitExpense submits an expense reimbursement with a receipt, as multipart.
func (e *env) submitExpense(person string, body map[string]any, headers ...string) response {
	e.t.Helper()
	js, _ := json.Marshal(body)
	b, ct := multipartBody(e.t, part{"request", "", js}, part{"receipt", "receipt.pdf", receiptPDF})
	return e.call("POST", "/v1/requests", person, b, append([]string{"Content-Type", ct}, headers...)...)
}

// TestAttachmentsAPI: submission with a receipt (and without: 422), upload later, list and
// download by each role, refused types and sizes (422), the download's headers, the bytes at
// rest, on both databases.
func TestAttachmentsAPI(t *testing.T) {
	for _, dialect := range storetest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			e := startEnv(t, freshNamespace(t), storetest.URL(t, dialect), true)
			form := map[string]any{"service": "expense-reimbursement", "form": map[string]any{"amount": 120, "category": "travel", "description": "taxi to the airport"}}
			js, _ := json.Marshal(form)
			b, ct := multipartBody(t, part{"request", "", js})
			r := e.call("POST", "/v1/requests", "alice", b, "Content-Type", ct)
			if r.Status != http.StatusUnprocessableEntity || !strings.Contains(string(r.Raw), `"/attachments"`) {
				t.Fatalf("no receipt: %d %s", r.Status, r.Raw)
			}
			// JSON without files: the same refusal.
			if r := e.call("POST", "/v1/requests", "alice", form); r.Status != http.StatusUnprocessableEntity {
				t.Fatalf("JSON without a receipt: %d %s", r.Status, r.Raw)
			}
			b, ct = multipartBody(t, part{"request", "", js}, part{"receipt", "r.pdf", []byte("<html><script>alert(1)</script>")})
			if r := e.call("POST", "/v1/requests", "alice", b, "Content-Type", ct); r.Status != http.StatusUnprocessableEntity || !strings.Contains(string(r.Raw), `"type"`) {
				t.Fatalf("HTML as a receipt: %d %s", r.Status, r.Raw)
			}
			r = e.submitExpense("alice", form)
			if r.Status != http.StatusCreated {
				t.Fatalf("submit: %d %s", r.Status, r.Raw)
			}
			id := r.Body["id"].(string)
			list := e.call("GET", "/v1/requests/"+id+"/attachments", "alice", nil)
			items, _ := list.Body["items"].([]any)
			if list.Status != http.StatusOK || len(items) != 1 {
				t.Fatalf("list: %d %s", list.Status, list.Raw)
			}
			file := items[0].(map[string]any)["id"].(string)
			// Requester, approver (bob) and operator download; anyone else: 404.
			waitStatus(t, e, id, "pending_approval")
			for _, who := range []string{"alice", "bob", "oscar"} {
				d := e.call("GET", "/v1/requests/"+id+"/attachments/"+file, who, nil)
				if d.Status != http.StatusOK || !bytes.Equal(d.Raw, receiptPDF) {
					t.Fatalf("%s downloads: %d", who, d.Status)
				}
				if d.Header.Get("Content-Type") != "application/pdf" || d.Header.Get("X-Content-Type-Options") != "nosniff" ||
					d.Header.Get("Content-Disposition") != `attachment; filename=receipt.pdf` {
					t.Fatalf("download headers: %v", d.Header)
				}
			}
			if d := e.call("GET", "/v1/requests/"+id+"/attachments/"+file, "erin", nil); d.Status != http.StatusNotFound {
				t.Fatalf("erin downloads: %d", d.Status)
			}
			// Upload later: the approver may; an operator may not (403); a stranger 404; too big 422.
			b, ct = multipartBody(t, part{"receipt", "second.pdf", receiptPDF})
			if r := e.call("POST", "/v1/requests/"+id+"/attachments", "bob", b, "Content-Type", ct); r.Status != http.StatusCreated {
				t.Fatalf("bob uploads: %d %s", r.Status, r.Raw)
			}
			if r := e.call("POST", "/v1/requests/"+id+"/attachments", "oscar", b, "Content-Type", ct); r.Status != http.StatusForbidden {
				t.Fatalf("oscar uploads: %d %s", r.Status, r.Raw)
			}
			if r := e.call("POST", "/v1/requests/"+id+"/attachments", "erin", b, "Content-Type", ct); r.Status != http.StatusNotFound {
				t.Fatalf("erin uploads: %d %s", r.Status, r.Raw)
			}
			big := append(append([]byte{}, receiptPDF...), bytes.Repeat([]byte{' '}, 11<<20)...)
			b, ct = multipartBody(t, part{"receipt", "big.pdf", big})
			if r := e.call("POST", "/v1/requests/"+id+"/attachments", "alice", b, "Content-Type", ct); r.Status != http.StatusUnprocessableEntity || !strings.Contains(string(r.Raw), "maxBytes") {
				t.Fatalf("11 MiB: %d %s", r.Status, r.Raw)
			}
			if r := e.call("POST", "/v1/requests/"+id+"/attachments", "alice", map[string]any{"x": 1}); r.Status != http.StatusUnsupportedMediaType {
				t.Fatalf("JSON upload: %d", r.Status)
			}
			// At rest nothing reads as the receipt.
			_ = filepath.Walk(filepath.Join(e.filesDir, "files"), func(p string, info os.FileInfo, err error) error {
				if err == nil && !info.IsDir() {
					raw, _ := os.ReadFile(p)
					if bytes.Contains(raw, []byte("Taxi")) {
						t.Errorf("%s holds the receipt in clear", p)
					}
				}
				return nil
			})
		})
	}
}

func waitStatus(t *testing.T, e *env, id, status string) {
	t.Helper()
	r := e.call("GET", "/v1/requests/"+id, "alice", nil)
	if r.Body["status"] != status {
		t.Fatalf("%s: %s", id, r.Raw)
	}
}

var _ = io.Discard
