package e2e

import (
	"net/http"
	"regexp"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

// scrape returns /metrics as text.
func scrape(t *testing.T, e *env) string {
	t.Helper()
	resp, err := http.Get(e.url + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b strings.Builder
	buf := make([]byte, 32<<10)
	for {
		n, err := resp.Body.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return b.String()
}

// TestMetricsAndTraces: after a scripted scenario /metrics carries the business figures with
// their values, HTTP latencies and the SDK's metrics; and one trace runs from the HTTP call that
// submitted a request through its workflow to its activities.
func TestMetricsAndTraces(t *testing.T) {
	spans := tracetest.NewInMemoryExporter()
	e := newObservedEnv(t, spans)
	a := submitLaptop(t, e, "alice")
	submitLaptop(t, e, "erin")
	e.submitExpense("alice", map[string]any{"service": "expense-reimbursement",
		"form": map[string]any{"amount": 10, "category": "meals", "description": "coffee run"}}) // auto-approved
	e.call("POST", "/v1/requests/"+a+"/decision", "bob", map[string]any{"decision": "approve"})
	// A get, and a get that waits (its wait runs out: the task is open): apart in the histogram.
	e.call("GET", "/v1/requests/"+a, "alice", nil)
	e.call("GET", "/v1/requests/"+a+"?wait=1", "alice", nil)

	text := scrape(t, e)
	for _, want := range []string{
		`esm_requests_submitted_total{department="it",service="laptop"} 2`,
		`esm_requests_submitted_total{department="finance",service="expense-reimbursement"} 1`,
		`esm_requests_open{department="it",status="pending_approval"} 1`,
		`esm_requests_open{department="it",status="in_fulfilment"} 1`,
		`esm_requests_open{department="finance",status="in_fulfilment"} 1`,
		`esm_approvals_pending 1`,
		`esm_http_request_duration_seconds_count{method="POST",route="/v1/requests",status="201"} 3`,
		`esm_http_request_duration_seconds_count{method="POST",route="/v1/requests/:id/decision",status="200"} 1`,
		`esm_http_request_duration_seconds_count{method="GET",route="/v1/requests/:id",status="200"} 1`,
		`esm_http_request_duration_seconds_count{method="GET",route="/v1/requests/:id?wait",status="200"} 1`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if !regexp.MustCompile(`(?m)^temporal_\w+`).MatchString(text) {
		t.Error("/metrics has no Temporal SDK metrics")
	}

	// The trace of the submission: the HTTP span is its root; the workflow and the activities
	// it ran are in the same trace.
	var root string
	byTrace := map[string][]string{}
	for _, s := range spans.GetSpans() {
		id := s.SpanContext.TraceID().String()
		byTrace[id] = append(byTrace[id], s.Name)
		if s.Name == "POST /v1/requests" && root == "" {
			root = id
		}
	}
	if root == "" {
		t.Fatalf("no HTTP span; spans: %v", byTrace)
	}
	names := strings.Join(byTrace[root], "|")
	for _, want := range []string{"POST /v1/requests", "UpdateWithStartWorkflow:submit", "HandleUpdate:submit", "StartActivity:ResolveApprovers", "RunActivity:ResolveApprovers", "RunActivity:Project"} {
		if !strings.Contains(names, want) {
			t.Errorf("the submission's trace lacks %s: %s", want, names)
		}
	}
}
