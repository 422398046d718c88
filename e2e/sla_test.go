package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/esmhq/esm/activities"
)

// TestSLAEscalationWebhook: the department's webhook receives the signed escalation notices in
// order, each level once, although the worker restarts between the levels.
func TestSLAEscalationWebhook(t *testing.T) {
	const secret = "webhook-secret-for-tests"
	var mu sync.Mutex
	var notices []activities.Notification
	bad := 0
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		if r.Header.Get(activities.SignatureHeader) != activities.Sign([]byte(secret), body) {
			bad++
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		var n activities.Notification
		_ = json.Unmarshal(body, &n)
		notices = append(notices, n)
	}))
	defer hook.Close()
	t.Setenv("ESM_TEST_WEBHOOK_URL", hook.URL)
	t.Setenv("ESM_TEST_WEBHOOK_SECRET", secret)

	e := newEnv(t, "sqlite")
	r := e.call("POST", "/v1/requests", "alice", map[string]any{"service": "test-sla", "form": map[string]any{}})
	if r.Status != http.StatusCreated {
		t.Fatalf("submit: %d %s", r.Status, r.Raw)
	}
	id := r.Body["id"].(string)
	escalations := func() []activities.Notification {
		mu.Lock()
		defer mu.Unlock()
		var out []activities.Notification
		for _, n := range notices {
			if n.Kind == "sla.escalation" {
				out = append(out, n)
			}
		}
		return out
	}
	wait := func(n int) {
		deadline := time.Now().Add(20 * time.Second)
		for len(escalations()) < n {
			if time.Now().After(deadline) {
				t.Fatalf("%d escalation notices, want %d", len(escalations()), n)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	wait(1)
	e.restartWorker() // between level 1 (at 2s) and level 2 (at 4s)
	wait(2)
	time.Sleep(time.Second) // nothing more may come
	got := escalations()
	if len(got) != 2 || got[0].To[0] != "oscar" || got[1].To[0] != "ivan" || got[0].Seq >= got[1].Seq {
		t.Fatalf("escalation notices: %+v", got)
	}
	if bad != 0 {
		t.Errorf("%d notices with a bad signature", bad)
	}
	st := e.call("GET", "/v1/requests/"+id, "alice", nil)
	if st.Body["escalation_level"] != 2.0 || st.Body["breached"] != true {
		t.Errorf("request after the levels: %s", st.Raw)
	}
	levels := 0
	for _, ev := range st.Body["timeline"].([]any) {
		if ev.(map[string]any)["type"] == "sla.escalation" {
			levels++
		}
	}
	if levels != 2 {
		t.Errorf("%d escalation levels in the audit trail", levels)
	}
	rows := items(e.call("GET", "/v1/requests", "alice", nil))
	if rows[0]["breached"] != true || rows[0]["due_at"] == nil {
		t.Errorf("the read model's clock: %v", rows[0])
	}
	// The report counts it once it closes.
	e.call("POST", "/v1/tasks/"+id+".do/complete", "dave", map[string]any{})
	rep := e.call("GET", "/v1/reports/sla", "oscar", nil)
	found := false
	for _, it := range items(rep) {
		if it["service"] == "test-sla" {
			found = true
			if it["closed"] != 1.0 || it["breached"] != 1.0 || it["attainment_percent"] != 0.0 {
				t.Errorf("report: %v", it)
			}
		}
	}
	if !found {
		t.Errorf("the report lacks test-sla: %s", rep.Raw)
	}
}
