package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/esmhq/esm/api"
	"github.com/esmhq/esm/store/storetest"
)

// files lists the ids of a request's files.
func (e *env) fileIDs(id string) []string {
	e.t.Helper()
	r := e.call("GET", "/v1/requests/"+id+"/attachments", "alice", nil)
	if r.Status != http.StatusOK {
		e.t.Fatalf("list %s: %d %s", id, r.Status, r.Raw)
	}
	var ids []string
	for _, it := range r.Body["items"].([]any) {
		ids = append(ids, it.(map[string]any)["id"].(string))
	}
	return ids
}

// expenseWithReceipt submits an expense with its receipt and answers its id.
func expenseWithReceipt(t *testing.T, e *env, headers ...string) string {
	t.Helper()
	r := e.submitExpense("alice", map[string]any{"service": "expense-reimbursement",
		"form": map[string]any{"amount": 120, "category": "travel", "description": "taxi to the airport"}}, headers...)
	if r.Status != http.StatusCreated {
		t.Fatalf("submit: %d %s", r.Status, r.Raw)
	}
	return r.Body["id"].(string)
}

// trickle sends an upload of body through a pipe: the first half at once, then the rest in
// pieces every gap, or (stall > 0) after a silence of stall. It answers the status (0 when the
// connection was cut) and how long the call took.
func trickle(t *testing.T, url, tok, key, body, ct string, gap, stall time.Duration) (int, time.Duration) {
	t.Helper()
	pr, pw := io.Pipe()
	req, _ := http.NewRequest("POST", url, pr)
	req.ContentLength = int64(len(body))
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Content-Type", ct)
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	go func() {
		half := len(body) / 2
		if _, err := io.WriteString(pw, body[:half]); err != nil {
			return
		}
		if stall > 0 {
			time.Sleep(stall)
		}
		for rest := body[half:]; len(rest) > 0; {
			n := min(len(rest), 16)
			if _, err := io.WriteString(pw, rest[:n]); err != nil {
				return
			}
			rest = rest[n:]
			time.Sleep(gap)
		}
		pw.Close()
	}()
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	took := time.Since(start)
	pw.CloseWithError(io.ErrClosedPipe)
	if err != nil {
		return 0, took
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusRequestTimeout {
		t.Logf("trickled upload: %d %s", resp.StatusCode, b)
	}
	return resp.StatusCode, took
}

// TestUploadIdempotency (issue 21): an upload retried with its Idempotency-Key stores one file
// and is answered the same; the key with another file (another name, or another length) is
// refused 422; a retry while the first still streams is 409 with Retry-After; without a key each
// POST stores a file; a submission with files retried with its key makes one request with one
// receipt. On each database.
func TestUploadIdempotency(t *testing.T) {
	for _, dialect := range storetest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			e := startEnv(t, freshNamespace(t), storetest.URL(t, dialect), true)
			id := expenseWithReceipt(t, e)
			path := "/v1/requests/" + id + "/attachments"
			b, ct := multipartBody(t, part{"receipt", "second.pdf", receiptPDF})
			first := e.call("POST", path, "alice", b, "Content-Type", ct, "Idempotency-Key", "up-1")
			if first.Status != http.StatusCreated {
				t.Fatalf("upload: %d %s", first.Status, first.Raw)
			}
			// The retry (a client's new boundary) stores nothing and is told the same.
			b, ct = multipartBody(t, part{"receipt", "second.pdf", receiptPDF})
			again := e.call("POST", path, "alice", b, "Content-Type", ct, "Idempotency-Key", "up-1")
			if again.Status != http.StatusCreated || again.Header.Get("Idempotent-Replayed") != "true" || string(again.Raw) != string(first.Raw) {
				t.Fatalf("retry: %d %q %s (first %s)", again.Status, again.Header.Get("Idempotent-Replayed"), again.Raw, first.Raw)
			}
			if ids := e.fileIDs(id); len(ids) != 2 {
				t.Fatalf("after an upload and its retry %s has %d files, want 2: %v", id, len(ids), ids)
			}
			// The key with another file: the same length, another name; then another length.
			b, ct = multipartBody(t, part{"receipt", "thirds.pdf", receiptPDF})
			if r := e.call("POST", path, "alice", b, "Content-Type", ct, "Idempotency-Key", "up-1"); r.Status != http.StatusUnprocessableEntity ||
				r.Body["type"] != "urn:esm:problem:idempotency-key-reused" {
				t.Fatalf("another name under the key: %d %s", r.Status, r.Raw)
			}
			b, ct = multipartBody(t, part{"receipt", "second.pdf", append([]byte("%PDF-1.4 other "), receiptPDF...)})
			if r := e.call("POST", path, "alice", b, "Content-Type", ct, "Idempotency-Key", "up-1"); r.Status != http.StatusUnprocessableEntity ||
				r.Body["type"] != "urn:esm:problem:idempotency-key-reused" {
				t.Fatalf("another file under the key: %d %s", r.Status, r.Raw)
			}
			if ids := e.fileIDs(id); len(ids) != 2 {
				t.Fatalf("refused uploads stored files: %v", ids)
			}
			// Without a key, two POSTs are two files.
			for range 2 {
				b, ct = multipartBody(t, part{"receipt", "again.pdf", receiptPDF})
				if r := e.call("POST", path, "alice", b, "Content-Type", ct); r.Status != http.StatusCreated {
					t.Fatalf("upload without a key: %d %s", r.Status, r.Raw)
				}
			}
			if ids := e.fileIDs(id); len(ids) != 4 {
				t.Fatalf("two uploads without a key: %d files, want 4", len(ids))
			}

			// A retry while the first still streams: 409 with Retry-After; the first then ends.
			id2 := expenseWithReceipt(t, e)
			path2 := "/v1/requests/" + id2 + "/attachments"
			slow, ct2 := multipartBody(t, part{"receipt", "slow.pdf", receiptPDF})
			done := make(chan int, 1)
			go func() {
				status, _ := trickle(t, e.url+path2, e.token("alice"), "up-slow", slow, ct2, 100*time.Millisecond, 0)
				done <- status
			}()
			for deadline := time.Now().Add(10 * time.Second); ; {
				var n int
				if err := e.store.DB.Get(&n, e.store.DB.Rebind(`SELECT COUNT(*) FROM idempotent_calls WHERE key = ?`), "up-slow"); err != nil {
					t.Fatal(err)
				}
				if n == 1 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("the slow upload never claimed its key")
				}
				time.Sleep(20 * time.Millisecond)
			}
			b, ct = multipartBody(t, part{"receipt", "slow.pdf", receiptPDF})
			if r := e.call("POST", path2, "alice", b, "Content-Type", ct, "Idempotency-Key", "up-slow"); r.Status != http.StatusConflict || r.Header.Get("Retry-After") == "" {
				t.Fatalf("a retry while the first streams: %d %q %s", r.Status, r.Header.Get("Retry-After"), r.Raw)
			}
			if status := <-done; status != http.StatusCreated {
				t.Fatalf("the slow upload: %d", status)
			}
			if ids := e.fileIDs(id2); len(ids) != 2 {
				t.Fatalf("%s has %d files, want 2 (its receipt and the slow one)", id2, len(ids))
			}

			// A submission with its receipt, retried with its key: one request, one receipt.
			sub := expenseWithReceipt(t, e, "Idempotency-Key", "claim-1")
			form := map[string]any{"service": "expense-reimbursement",
				"form": map[string]any{"amount": 120, "category": "travel", "description": "taxi to the airport"}}
			r := e.submitExpense("alice", form, "Idempotency-Key", "claim-1")
			if r.Status != http.StatusOK || r.Body["id"] != sub || r.Header.Get("Idempotent-Replayed") != "true" {
				t.Fatalf("the submission's retry: %d %s", r.Status, r.Raw)
			}
			if ids := e.fileIDs(sub); len(ids) != 1 {
				t.Fatalf("%s has %d files after its retry, want 1", sub, len(ids))
			}
			list := e.call("GET", "/v1/requests", "alice", nil)
			n := 0
			for _, it := range list.Body["items"].([]any) {
				if raw, _ := json.Marshal(it); strings.Contains(string(raw), `"expense-reimbursement"`) {
					n++
				}
			}
			if n != 3 {
				t.Fatalf("alice has %d expense requests, want 3: %s", n, list.Raw)
			}
		})
	}
}

// TestSlowUpload (issue 21): an upload that trickles for longer than the server's read timeout
// still completes; one that stalls for longer than the idle allowed is cut (408 or the
// connection closed) well before its sender would have resumed, and stores nothing.
func TestSlowUpload(t *testing.T) {
	e := startEnvWith(t, freshNamespace(t), storetest.URL(t, "sqlite"), true, nil,
		func(c *api.Config) { c.UploadIdle = 800 * time.Millisecond })
	srv := httptest.NewUnstartedServer(e.api.Handler())
	srv.Config.ReadTimeout = time.Second
	srv.Config.WriteTimeout = time.Second
	srv.Start()
	defer srv.Close()
	id := expenseWithReceipt(t, e)
	url := srv.URL + "/v1/requests/" + id + "/attachments"
	b, ct := multipartBody(t, part{"receipt", "slow.pdf", receiptPDF})
	status, took := trickle(t, url, e.token("alice"), "", b, ct, 300*time.Millisecond, 0)
	if status != http.StatusCreated || took < 2*time.Second {
		t.Fatalf("an upload trickling for %s (read timeout 1s): %d", took, status)
	}
	b, ct = multipartBody(t, part{"receipt", "stalled.pdf", receiptPDF})
	status, took = trickle(t, url, e.token("alice"), "", b, ct, 10*time.Millisecond, 4*time.Second)
	if (status != 0 && status != http.StatusRequestTimeout) || took > 3*time.Second {
		t.Fatalf("an upload stalling for 4s (idle allowed 0.8s): %d after %s", status, took)
	}
	if ids := e.fileIDs(id); len(ids) != 2 {
		t.Fatalf("%s has %d files, want 2 (the receipt and the trickled one)", id, len(ids))
	}
}
