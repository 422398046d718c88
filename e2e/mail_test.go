package e2e

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/esmhq/esm/notify"
	"github.com/esmhq/esm/notify/mailtest"
	"github.com/esmhq/esm/store"
	"github.com/esmhq/esm/store/storetest"
	"github.com/esmhq/esm/worker"
)

// newMailEnv is newEnv with the worker mailing through a real SMTP server in the test process.
func newMailEnv(t *testing.T, dialect string) (*env, *mailtest.Server) {
	t.Helper()
	srv := mailtest.Start(t)
	m, err := notify.NewMailer(srv.URL(), "ESM <desk@esm.example.org>", "http://portal.test/portal")
	if err != nil {
		t.Fatal(err)
	}
	m.Timeout = 3 * time.Second
	e := startEnvWith(t, freshNamespace(t), storetest.URL(t, dialect), true, nil, func(o *worker.Options) { o.Mail = m })
	return e, srv
}

// mailTo waits for a mail to addr whose subject begins with prefix and which is about id.
func mailTo(t *testing.T, srv *mailtest.Server, addr, prefix, id string) mailtest.Message {
	t.Helper()
	var found mailtest.Message
	srv.Wait(t, 20*time.Second, "mail to "+addr+" "+prefix+" about "+id, func(msgs []mailtest.Message) bool {
		for _, m := range msgs {
			if m.To == addr && strings.HasPrefix(m.Header.Get("Subject"), prefix) && strings.Contains(m.Header.Get("References"), id+"@") {
				found = m
				return true
			}
		}
		return false
	})
	return found
}

// onceEach checks that no recipient got one notification twice.
func onceEach(t *testing.T, srv *mailtest.Server) {
	t.Helper()
	seen := map[string]bool{}
	for _, m := range srv.Messages() {
		k := m.To + " " + m.Header.Get("Message-Id")
		if seen[k] {
			t.Errorf("%s got %s twice", m.To, m.Header.Get("Message-Id"))
		}
		seen[k] = true
	}
}

func (e *env) ok(method, path, who string, body any) response {
	e.t.Helper()
	r := e.call(method, path, who, body)
	if r.Status >= 300 {
		e.t.Fatalf("%s %s as %s: %d %s", method, path, who, r.Status, r.Raw)
	}
	return r
}

// TestWhoIsToldWhat is the table of docs/NOTIFICATIONS.md, one subtest per row, by mail through
// a real SMTP server, on each database: each mail goes to the right people, once.
func TestWhoIsToldWhat(t *testing.T) {
	for _, dialect := range storetest.Dialects() {
		t.Run(dialect, func(t *testing.T) {
			e, srv := newMailEnv(t, dialect)
			// Bob delegated his approvals to Carol.
			e.ok("POST", "/v1/delegations", "bob", map[string]any{"delegate": "carol", "ends_at": time.Now().Add(48 * time.Hour).Format(time.RFC3339)})

			t.Run("step opens: approvers and their delegates", func(t *testing.T) {
				id := submitLaptop(t, e, "alice")
				m := mailTo(t, srv, "bob@example.com", "Approval needed: ", id)
				if !strings.Contains(m.Text, "Alice Chen asks for") || !strings.Contains(m.Text, "/portal/requests/"+id) {
					t.Errorf("bob's mail:\n%s", m.Text)
				}
				m = mailTo(t, srv, "carol@example.com", "Approval needed: ", id)
				if !strings.Contains(m.Text, "bob delegated their approvals to you") {
					t.Errorf("carol's mail says why she gets it:\n%s", m.Text)
				}
			})
			t.Run("rejected: the requester, with the reason", func(t *testing.T) {
				id := submitLaptop(t, e, "alice")
				e.ok("POST", "/v1/requests/"+id+"/decision", "bob", map[string]any{"decision": "reject", "comment": "no budget this quarter"})
				m := mailTo(t, srv, "alice@example.com", "Rejected: ", id)
				if !strings.Contains(m.Text, "no budget this quarter") {
					t.Errorf("the reason is missing:\n%s", m.Text)
				}
			})
			t.Run("question asked: the requester", func(t *testing.T) {
				id := submitLaptop(t, e, "alice")
				e.ok("POST", "/v1/requests/"+id+"/decision", "bob", map[string]any{"decision": "request_info", "comment": "which model exactly?"})
				m := mailTo(t, srv, "alice@example.com", "Question about "+id, id)
				if !strings.Contains(m.Text, "which model exactly?") || !strings.Contains(m.Text, "Bob Ruiz") {
					t.Errorf("the question and who asks:\n%s", m.Text)
				}
			})
			t.Run("approved, task queued, resolved with outputs", func(t *testing.T) {
				id := submitLaptop(t, e, "alice")
				e.ok("POST", "/v1/requests/"+id+"/decision", "bob", map[string]any{"decision": "approve"})
				mailTo(t, srv, "alice@example.com", "Approved: ", id)
				for _, who := range []string{"dave", "frank", "tara"} { // it-service-desk has no address: its members
					mailTo(t, srv, who+"@example.com", "In your queue: ", id)
				}
				e.ok("POST", "/v1/tasks/"+id+".prepare/complete", "dave", map[string]any{"outputs": map[string]any{"asset_tag": "LT-7"}})
				m := mailTo(t, srv, "alice@example.com", "Resolved: ", id)
				if !strings.Contains(m.Text, "asset_tag: LT-7") || !strings.Contains(m.HTML, "LT-7") {
					t.Errorf("the outputs are missing:\n%s", m.Text)
				}
			})
			t.Run("cancelled: requester and approvers, by whom and why", func(t *testing.T) {
				id := submitLaptop(t, e, "alice")
				mailTo(t, srv, "bob@example.com", "Approval needed: ", id)
				e.ok("POST", "/v1/requests/"+id+"/cancel", "alice", map[string]any{"reason": "found a spare one"})
				m := mailTo(t, srv, "alice@example.com", "Withdrawn by the requester: ", id)
				if !strings.Contains(m.Text, "found a spare one") {
					t.Errorf("why is missing:\n%s", m.Text)
				}
				mailTo(t, srv, "bob@example.com", "Withdrawn by the requester: ", id)
			})
			t.Run("reminded, escalated, expired: the approvers, their delegates, the requester", func(t *testing.T) { rowDeadlines(t, e, srv) })
			t.Run("understaffed: the operators", func(t *testing.T) { rowUnderstaffed(t, e, srv) })
			t.Run("failed: the requester, with the reason", func(t *testing.T) { rowFailed(t, e, srv) })
			t.Run("SLA warning, breach, escalation: the owner and the level's people", func(t *testing.T) { rowSLA(t, e, srv) })
			t.Run("reminder outside working hours: waits for the opening", func(t *testing.T) { rowDeferred(t, e, srv) })
			t.Run("mail server down: the request resolves, the mail follows", func(t *testing.T) {
				id := submitLaptop(t, e, "alice")
				mailTo(t, srv, "bob@example.com", "Approval needed: ", id)
				// The server is stopped only once Bob's mail is in the sent-log: stopped between
				// keeping the message and answering 250, it would be sent again under the same
				// Message-ID (the window docs/NOTIFICATIONS.md describes, TestSentLogWindow's case),
				// and onceEach below would count it twice.
				waitSent(t, e, id, "bob", "approval.requested")
				srv.Stop()
				e.ok("POST", "/v1/requests/"+id+"/decision", "bob", map[string]any{"decision": "approve"})
				done := e.ok("POST", "/v1/tasks/"+id+".prepare/complete", "dave", map[string]any{"outputs": map[string]any{"asset_tag": "LT-8"}})
				if done.Body["status"] != "resolved" {
					t.Fatalf("with the mail server down the request is %v", done.Body["status"])
				}
				if got := e.call("GET", "/v1/requests/"+id, "alice", nil); got.Status != http.StatusOK || got.Body["status"] != "resolved" {
					t.Fatalf("GET: %d %v", got.Status, got.Body["status"])
				}
				srv.Restart()
				mailTo(t, srv, "alice@example.com", "Resolved: ", id)
				// The sent-log row is written just after the server accepted the mail.
				waitSent(t, e, id, "alice", "request.resolved")
			})
			onceEach(t, srv)
		})
	}
}

// waitSent waits until the sent-log of request id holds exactly one sent row of kind for
// recipient, and fails the test if it does not within 10 s.
func waitSent(t *testing.T, e *env, id, recipient, kind string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		rows, err := e.store.SentFor(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		sent := 0
		for _, r := range rows {
			if r.Status == store.SentOK && r.Recipient == recipient && r.Kind == kind {
				sent++
			}
		}
		if sent == 1 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the sent-log has %d rows of %s's %s mail: %+v", sent, recipient, kind, rows)
		}
	}
}
