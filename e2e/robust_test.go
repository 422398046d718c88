package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/esmhq/esm/catalog"
	"github.com/esmhq/esm/store/storetest"
)

// TestHangUpThenRetry: an approver's client sends a decision with an Idempotency-Key and hangs up
// at once (decisions wait for the workflow and the read model). The retry with the same key gets
// the decision's real answer, replayed, never 409 "still in progress" for good; the decision is
// recorded once.
func TestHangUpThenRetry(t *testing.T) {
	for _, dialect := range storetest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			e := newEnv(t, dialect)
			r := e.call("POST", "/v1/requests", "alice", map[string]any{"service": "onboarding", "form": onboardingForm})
			if r.Status != http.StatusCreated {
				t.Fatalf("submit: %d %s", r.Status, r.Raw)
			}
			id := r.Body["id"].(string)
			body := `{"decision":"approve","comment":"welcome"}`
			path := "/v1/requests/" + id + "/decision"
			u, _ := url.Parse(e.url)
			conn, err := net.Dial("tcp", u.Host)
			if err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(conn, "POST %s HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nIdempotency-Key: hang-up-1\r\nContent-Length: %d\r\n\r\n%s",
				path, u.Host, e.token("helen"), len(body), body)
			conn.Close() // the caller hangs up before any answer

			// The retry comes once the first call holds the key (else it would simply be first).
			deadline := time.Now().Add(30 * time.Second)
			for {
				var n int
				if err := e.store.DB.Get(&n, e.store.DB.Rebind(`SELECT COUNT(*) FROM idempotent_calls WHERE key = ?`), "hang-up-1"); err != nil {
					t.Fatal(err)
				}
				if n == 1 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("the hung-up call never claimed its key")
				}
				time.Sleep(10 * time.Millisecond)
			}
			var got response
			for {
				got = e.call("POST", path, "helen", body, "Idempotency-Key", "hang-up-1")
				if got.Status != http.StatusConflict || time.Now().After(deadline) {
					break
				}
				time.Sleep(200 * time.Millisecond)
			}
			if got.Status != http.StatusOK || got.Body["status"] != "in_fulfilment" {
				t.Fatalf("the retry: %d %s", got.Status, got.Raw)
			}
			if got.Header.Get("Idempotent-Replayed") != "true" {
				t.Errorf("the retry ran the decision again instead of answering the first one's answer")
			}
			st := e.call("GET", "/v1/requests/"+id, "alice", nil)
			decided := 0
			for _, a := range st.Body["approvals"].([]any)[0].(map[string]any)["approvers"].([]any) {
				if a.(map[string]any)["decision"] != nil {
					decided++
				}
			}
			if decided != 1 {
				t.Errorf("%d decisions recorded, want 1: %s", decided, st.Raw)
			}
		})
	}
}

// tcpProxy forwards TCP connections to a target until it is stopped; stopped, its port refuses
// connections, as a database that is down does. start opens it again on the same address.
type tcpProxy struct {
	t      *testing.T
	target string
	addr   string
	mu     sync.Mutex
	ln     net.Listener
	conns  []net.Conn
}

func newProxy(t *testing.T, target string) *tcpProxy {
	p := &tcpProxy{t: t, target: target, addr: "127.0.0.1:0"}
	p.start()
	t.Cleanup(p.stop)
	return p
}

func (p *tcpProxy) start() {
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		p.t.Fatal(err)
	}
	p.mu.Lock()
	p.ln, p.addr = ln, ln.Addr().String()
	p.mu.Unlock()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", p.target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, c, up)
			p.mu.Unlock()
			go func() { _, _ = io.Copy(up, c); up.Close() }()
			go func() { _, _ = io.Copy(c, up); c.Close() }()
		}
	}()
}

// stop closes the port and every connection through it.
func (p *tcpProxy) stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// rawCall is an HTTP call whose answer may be a 5xx (env.call fails the test on one); the
// answer is still checked against openapi.yaml.
func (e *env) rawCall(method, path, person, body string) response {
	e.t.Helper()
	req, _ := http.NewRequest(method, e.url+path, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if person != "" {
		req.Header.Set("Authorization", "Bearer "+e.token(person))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	out := response{Status: resp.StatusCode, Header: resp.Header}
	out.Raw, _ = io.ReadAll(resp.Body)
	req.Body = io.NopCloser(bytes.NewReader([]byte(body)))
	e.checkContract(req, []byte(body), resp, out.Raw)
	return out
}

// TestDatabaseOutage: while ESM's database refuses connections, every call answers 503
// urn:esm:problem:unavailable with Retry-After (the principal's load included), never 500;
// /readyz says 503 too; when the database is back, calls succeed again. On Postgres the
// database sits behind a TCP proxy the test stops; on SQLite the store is closed.
func TestDatabaseOutage(t *testing.T) {
	for _, dialect := range storetest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			dbURL := storetest.URL(t, dialect)
			var px *tcpProxy
			if dialect == "postgres" {
				u, err := url.Parse(dbURL)
				if err != nil {
					t.Fatal(err)
				}
				px = newProxy(t, u.Host)
				u.Host = px.addr
				dbURL = u.String()
			}
			e := startEnv(t, freshNamespace(t), dbURL, true)
			r := e.call("POST", "/v1/requests", "alice", map[string]any{"service": "onboarding", "form": onboardingForm})
			if r.Status != http.StatusCreated {
				t.Fatalf("submit: %d %s", r.Status, r.Raw)
			}
			id := r.Body["id"].(string)

			if px != nil {
				px.stop()
			} else {
				e.worker.Stop()
				e.store.Close()
			}
			calls := []struct{ method, path, who, body string }{
				{"GET", "/v1/catalog/services", "alice", ""},
				{"GET", "/v1/requests", "alice", ""},
				{"GET", "/v1/requests/" + id, "alice", ""},
				{"POST", "/v1/requests", "alice", `{"service":"onboarding","form":{"joiner_name":"Jo","start_date":"2027-01-04","location":"london"}}`},
				{"POST", "/v1/requests/" + id + "/decision", "helen", `{"decision":"approve"}`},
				{"GET", "/v1/approvals", "helen", ""},
				{"GET", "/v1/tasks", "dave", ""},
			}
			for _, c := range calls {
				got := e.rawCall(c.method, c.path, c.who, c.body)
				if got.Status != http.StatusServiceUnavailable || got.Header.Get("Retry-After") == "" ||
					!strings.Contains(string(got.Raw), "urn:esm:problem:unavailable") {
					t.Errorf("%s %s while the database is down: %d, Retry-After %q: %s", c.method, c.path, got.Status, got.Header.Get("Retry-After"), got.Raw)
				}
			}
			if got := e.rawCall("GET", "/readyz", "", ""); got.Status != http.StatusServiceUnavailable || got.Header.Get("Retry-After") == "" {
				t.Errorf("/readyz while the database is down: %d %s", got.Status, got.Raw)
			}
			if got := e.rawCall("GET", "/healthz", "", ""); got.Status != http.StatusOK {
				t.Errorf("/healthz while the database is down: %d %s", got.Status, got.Raw)
			}
			if px == nil {
				return // a closed SQLite store stays closed
			}
			px.start()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			for ctx.Err() == nil {
				if got := e.rawCall("GET", "/readyz", "", ""); got.Status == http.StatusOK {
					break
				}
				time.Sleep(100 * time.Millisecond)
			}
			if got := e.call("POST", "/v1/requests/"+id+"/decision", "helen", map[string]any{"decision": "approve"}); got.Status != http.StatusOK {
				t.Errorf("the decision once the database is back: %d %s", got.Status, got.Raw)
			}
		})
	}
}

// TestDefinitionErrorsArePointers: a draft saved through the API with a bad eligibility rule and
// a bad approval step is refused with 422 naming each field as a JSON pointer into the body
// (/eligibility/rule, /approval/steps/0/mode), as every other error of the API does, not as
// the dotted path `esm catalog apply` prints beside a file name.
func TestDefinitionErrorsArePointers(t *testing.T) {
	e := newEnv(t, "sqlite")
	d := laptopDefinition(t)
	d.Eligibility = &catalog.Eligibility{Rule: "requester.department ==", Message: "anyone"}
	if len(d.Approval.Steps) == 0 {
		t.Fatal("the laptop has no approval step")
	}
	d.Approval.Steps[0].Mode = "most"
	r := e.call("PUT", "/v1/catalog/services/laptop/draft", "ivan", d)
	if r.Status != http.StatusUnprocessableEntity {
		t.Fatalf("draft with a bad rule: %d %s", r.Status, r.Raw)
	}
	fields := map[string]bool{}
	for _, fe := range r.Body["errors"].([]any) {
		fields[fe.(map[string]any)["field"].(string)] = true
	}
	for _, want := range []string{"/eligibility/rule", "/approval/steps/0/mode"} {
		if !fields[want] {
			t.Errorf("no error names %s: %s", want, r.Raw)
		}
	}
}
