package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/esmhq/esm/store/storetest"
)

// TestWaitForClose: a get with wait answers when the request closes, not before and not at the
// end of the wait; a wait that runs out answers the open state; a wait out of range is refused;
// a shutdown ends the waits.
func TestWaitForClose(t *testing.T) {
	for _, dialect := range storetest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			e := newEnv(t, dialect)
			r := e.call("POST", "/v1/requests", "alice", map[string]any{"service": "laptop", "form": laptopForm})
			if r.Status != http.StatusCreated {
				t.Fatalf("submit: %d %s", r.Status, r.Raw)
			}
			id := r.Body["id"].(string)

			if r = e.call("GET", "/v1/requests/"+id+"?wait=31", "alice", nil); r.Status != http.StatusUnprocessableEntity || fieldsOf(r)["wait"] != "range" {
				t.Errorf("wait=31: %d %s", r.Status, r.Raw)
			}
			if r = e.call("GET", "/v1/requests/"+id+"?wait=1", "alice", nil); r.Status != http.StatusOK || r.Body["status"] != "pending_approval" {
				t.Errorf("a wait that runs out: %d %s", r.Status, r.Raw)
			}

			// Alice waits for the outcome while Bob decides.
			sent := time.Now()
			got := waitInBackground(e, id, "alice")
			time.Sleep(500 * time.Millisecond)
			if r = e.call("POST", "/v1/requests/"+id+"/decision", "bob", map[string]any{"decision": "reject", "comment": "not this quarter"}); r.Status != http.StatusOK {
				t.Fatalf("reject: %d %s", r.Status, r.Raw)
			}
			a := <-got
			if a.err != nil || a.status != http.StatusOK || a.body["status"] != "rejected" {
				t.Fatalf("the waiting get: %d %v %v", a.status, a.body, a.err)
			}
			// It was asked before the request closed, and answered with the close.
			closed, err := time.Parse(time.RFC3339Nano, a.body["closed_at"].(string))
			if err != nil || !closed.After(sent) {
				t.Errorf("closed at %v, asked at %v (%v)", a.body["closed_at"], sent, err)
			}
			if time.Since(sent) > 20*time.Second {
				t.Errorf("the waiting get answered only after %v: at the end of its wait, not at the close", time.Since(sent))
			}
			// A closed request answers at once.
			if r = e.call("GET", "/v1/requests/"+id+"?wait=30", "alice", nil); r.Status != http.StatusOK || r.Body["status"] != "rejected" {
				t.Errorf("a closed request: %d %s", r.Status, r.Raw)
			}

			// When the server begins to shut down, a waiting get answers the open state at once
			// instead of holding the shutdown for the rest of its wait.
			open := submitLaptop(t, e, "alice")
			sent = time.Now()
			got = waitInBackground(e, open, "alice")
			time.Sleep(500 * time.Millisecond)
			e.api.StopWaiting()
			if a := <-got; a.err != nil || a.status != http.StatusOK || a.body["status"] != "pending_approval" {
				t.Fatalf("the waiting get at shutdown: %d %v %v", a.status, a.body, a.err)
			}
			if time.Since(sent) > 20*time.Second {
				t.Errorf("the waiting get answered only after %v, not at the shutdown", time.Since(sent))
			}
		})
	}
}

type answer struct {
	status int
	body   map[string]any
	err    error
}

// waitInBackground GETs the request with wait=30 as who, and hands over the answer when it comes.
func waitInBackground(e *env, id, who string) <-chan answer {
	got := make(chan answer, 1)
	tok := e.token(who)
	go func() {
		req, _ := http.NewRequest("GET", e.url+"/v1/requests/"+id+"?wait=30", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			got <- answer{err: err}
			return
		}
		defer resp.Body.Close()
		a := answer{status: resp.StatusCode}
		raw, _ := io.ReadAll(resp.Body)
		a.err = json.Unmarshal(raw, &a.body)
		got <- a
	}()
	return got
}
