package topology_test

// The fault test's sink and its checks, without the topology: TestFault (fault_test.go, tag
// topology) runs them over a real run, TestFaultCheckCatchesDoubling over a made-up one, so that
// the checks are seen to fail when an effect is doubled.

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// sink is the automation endpoint of the fault test: every call of an automated task (POST
// /hooks/<kind>, DELETE /hooks/<kind>/<id>) is recorded by its Idempotency-Key. With idempotent
// set, a key seen before gets the first answer again and has no second effect (as a real
// endpoint that honours the key); without, every delivery is an effect (as a naive one).
type sink struct {
	idempotent bool
	mu         sync.Mutex
	deliveries map[string]int    // key -> calls received
	applied    map[string]int    // key -> effects applied
	answers    map[string][]byte // key -> first answer
	next       int
}

func newSink(idempotent bool) *sink {
	return &sink{idempotent: idempotent, deliveries: map[string]int{}, applied: map[string]int{}, answers: map[string][]byte{}}
}

func (s *sink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	key := r.Header.Get("Idempotency-Key")
	kind := strings.Split(strings.Trim(strings.TrimPrefix(r.URL.Path, "/hooks"), "/"), "/")[0]
	if key == "" || kind == "" {
		http.Error(w, `{"error":"send an Idempotency-Key to /hooks/<kind>"}`, http.StatusBadRequest)
		return
	}
	_, _ = io.Copy(io.Discard, r.Body)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.deliveries[key]++
	w.Header().Set("Content-Type", "application/json")
	if prev, ok := s.answers[key]; ok && s.idempotent {
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(prev)
		return
	}
	s.next++
	s.applied[key]++
	b, _ := json.Marshal(map[string]any{"id": fmt.Sprintf("%s-%05d", kind, s.next)})
	if _, ok := s.answers[key]; !ok {
		s.answers[key] = b
	}
	w.WriteHeader(http.StatusCreated)
	_, _ = w.Write(b)
}

// snapshot copies the counters.
func (s *sink) snapshot() (deliveries, applied map[string]int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	deliveries, applied = map[string]int{}, map[string]int{}
	for k, n := range s.deliveries {
		deliveries[k] = n
	}
	for k, n := range s.applied {
		applied[k] = n
	}
	return deliveries, applied
}

// flow is one client's request, as the client saw it.
type flow struct {
	Index   int
	Service string
	Key     string         // the submission's Idempotency-Key
	IDs     map[string]int // request id -> answers naming it (one id, however many answers)
	Final   string         // the last status the client read ("" if it never read one)
	Err     string         // why the client gave up, if it did
}

// final is one request's final state from one side.
type final struct {
	Status   string
	ClosedAt string // RFC 3339, "" while open
	Seq      int64
	Timeline []int  // the event seqs, in order
	Exec     string // Temporal's execution status (workflow side only)
}

// faultRun is everything a run observed, for check.
type faultRun struct {
	Flows      []*flow
	Statuses   map[int]int         // every answer the clients got, by status code
	NetErrors  int                 // connection refused/reset, timeouts: retried with the same key
	Lagged     int                 // approvals answered 404 before the read model named the approver (retried)
	No503Retry int                 // 503 answers without Retry-After
	Ready      map[string][2]int   // "<dependency down> <api>" -> {/readyz 200s, /readyz others}
	StoreRows  int                 // rows in ESM's requests table
	Workflows  int                 // request workflows Temporal lists
	ReadModel  map[string]final    // by request id, through the API
	Workflow   map[string]final    // by request id, Temporal's query and describe
	Events     map[string][]int    // request_events seqs by request id, from ESM's database
	TaskKeys   map[string][]string // service -> automated task ids (the sink's keys are <request>.<task>)
	Faults     []string            // what was done, in order, with timings
	Duration   time.Duration
	Sink       *sink
}

// check runs every check over a run: the lines of the counts table, and the problems (none when
// the run is sound).
func check(r *faultRun) (table []string, problems []string) {
	bad := func(f string, a ...any) { problems = append(problems, fmt.Sprintf(f, a...)) }
	row := func(name string, v any) { table = append(table, fmt.Sprintf("%-48s %v", name, v)) }

	// Every request resolved exactly once: one id per key, one key per id.
	idKey := map[string]string{}
	resolved, gaveUp := 0, 0
	byService := map[string]int{}
	for _, f := range r.Flows {
		byService[f.Service]++
		if f.Err != "" {
			gaveUp++
			bad("flow %d (%s, key %s): %s", f.Index, f.Service, f.Key, f.Err)
		}
		if len(f.IDs) != 1 {
			bad("key %s answered %d request ids %v", f.Key, len(f.IDs), f.IDs)
		}
		for id := range f.IDs {
			if k, ok := idKey[id]; ok && k != f.Key {
				bad("request %s answered for two keys, %s and %s", id, k, f.Key)
			}
			idKey[id] = f.Key
		}
		if f.Final == "resolved" {
			resolved++
		} else if f.Err == "" {
			bad("flow %d (%s): final status %q, want resolved", f.Index, f.Service, f.Final)
		}
	}
	services := make([]string, 0, len(byService))
	for s := range byService {
		services = append(services, s)
	}
	sort.Strings(services)
	for _, s := range services {
		row("requests sent: "+s, byService[s])
	}
	row("requests resolved (client's view)", fmt.Sprintf("%d of %d", resolved, len(r.Flows)))
	row("distinct request ids answered", len(idKey))
	row("rows in ESM's requests table", r.StoreRows)
	row("request workflows in Temporal", r.Workflows)
	if r.StoreRows != len(idKey) {
		bad("ESM's database holds %d requests, the clients were answered %d", r.StoreRows, len(idKey))
	}
	if r.Workflows != len(idKey) {
		bad("Temporal lists %d request workflows, the clients were answered %d", r.Workflows, len(idKey))
	}

	// Every automated effect applied once.
	deliveries, applied := map[string]int{}, map[string]int{}
	if r.Sink != nil {
		deliveries, applied = r.Sink.snapshot()
	}
	expected := map[string]bool{}
	for _, f := range r.Flows {
		for id := range f.IDs {
			for _, task := range r.TaskKeys[f.Service] {
				expected[id+"."+task] = true
			}
		}
	}
	calls, effects, doubled, missing, repeated := 0, 0, 0, 0, 0
	for k := range expected {
		if deliveries[k] == 0 {
			missing++
			bad("automated effect %s never called", k)
		}
	}
	for k, n := range deliveries {
		calls += n
		if n > 1 {
			repeated++
		}
		if !expected[k] {
			bad("the sink was called with key %s, which no request's automated task has", k)
		}
	}
	for k, n := range applied {
		effects += n
		if n > 1 {
			doubled++
			bad("automated effect %s applied %d times", k, n)
		}
	}
	row("automated effects expected (task keys)", len(expected))
	row("calls at the sink (retries included)", calls)
	row("keys called more than once", repeated)
	row("effects applied at the sink", effects)
	row("effects a non-idempotent sink would apply", calls)
	row("effects doubled", doubled)
	row("effects missing", missing)

	// The read model equal to each workflow's final state; audit trails without gaps.
	mismatch, gaps := 0, 0
	ids := make([]string, 0, len(idKey))
	for id := range idKey {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		rm, okr := r.ReadModel[id]
		wf, okw := r.Workflow[id]
		switch {
		case !okr || !okw:
			mismatch++
			bad("%s: read model %v, workflow %v (one side missing)", id, okr, okw)
		case rm.Status != wf.Status || rm.ClosedAt != wf.ClosedAt || rm.Seq != wf.Seq:
			mismatch++
			bad("%s: read model %s closed %q seq %d, workflow %s closed %q seq %d", id, rm.Status, rm.ClosedAt, rm.Seq, wf.Status, wf.ClosedAt, wf.Seq)
		case wf.Exec != "Completed":
			mismatch++
			bad("%s: the workflow is %s, want Completed", id, wf.Exec)
		}
		if !contiguous(r.Events[id]) {
			gaps++
			bad("%s: audit trail seqs %v are not 1..n", id, r.Events[id])
		} else if okr && (!contiguous(rm.Timeline) || len(rm.Timeline) != len(r.Events[id])) {
			gaps++
			bad("%s: the API's timeline %v, the audit trail has %d events", id, rm.Timeline, len(r.Events[id]))
		}
	}
	row("read model differs from the workflow", mismatch)
	row("audit trails with a gap", gaps)

	// No 500; 503 with Retry-After; /readyz false while a dependency is down.
	codes := make([]int, 0, len(r.Statuses))
	for c := range r.Statuses {
		codes = append(codes, c)
	}
	sort.Ints(codes)
	for _, c := range codes {
		row(fmt.Sprintf("answers %d", c), r.Statuses[c])
		if c >= 500 && c != http.StatusServiceUnavailable {
			bad("%d answers %d", r.Statuses[c], c)
		}
	}
	row("connection errors and timeouts (retried)", r.NetErrors)
	row("approvals 404 while the read model lagged", r.Lagged)
	row("503 without Retry-After", r.No503Retry)
	if r.No503Retry > 0 {
		bad("%d answers 503 without Retry-After", r.No503Retry)
	}
	downs := make([]string, 0, len(r.Ready))
	for k := range r.Ready {
		downs = append(downs, k)
	}
	sort.Strings(downs)
	for _, k := range downs {
		v := r.Ready[k]
		row("/readyz while down: "+k, fmt.Sprintf("%d ready, %d not", v[0], v[1]))
		if v[0] > 0 || v[1] == 0 {
			bad("/readyz while %s: %d ready, %d not ready", k, v[0], v[1])
		}
	}
	row("faults", len(r.Faults))
	row("duration", r.Duration.Round(time.Second))
	return table, problems
}

// contiguous says seqs is 1, 2, ..., n with n > 0.
func contiguous(seqs []int) bool {
	for i, s := range seqs {
		if s != i+1 {
			return false
		}
	}
	return len(seqs) > 0
}

// TestFaultCheckCatchesDoubling: the fault test's checks over a run where every request
// resolved, read model and workflows agree and trails are whole, with one automated task called
// twice (as a worker killed after the call and before its result was recorded would). With the
// sink honouring the Idempotency-Key the run passes and the second call is counted as a repeat;
// with the sink's idempotency switched off the same calls apply the effect twice and check reports
// the doubling.
func TestFaultCheckCatchesDoubling(t *testing.T) {
	run := func(idempotent bool) (table, problems []string) {
		s := newSink(idempotent)
		srv := httptest.NewServer(s)
		defer srv.Close()
		r := &faultRun{Statuses: map[int]int{201: 2, 200: 3}, Sink: s,
			ReadModel: map[string]final{}, Workflow: map[string]final{}, Events: map[string][]int{},
			TaskKeys: map[string][]string{"software-licence": {"assign"}, "onboarding": {"hr-record", "accounts"}},
			Ready:    map[string][2]int{"pg-esm esm-api-1": {0, 30}}, StoreRows: 2, Workflows: 2}
		for i, svc := range []string{"onboarding", "software-licence"} {
			id := fmt.Sprintf("REQ-%06d", i+1)
			r.Flows = append(r.Flows, &flow{Index: i, Service: svc, Key: fmt.Sprintf("k%d", i), IDs: map[string]int{id: 1}, Final: "resolved"})
			st := final{Status: "resolved", ClosedAt: "2030-01-01T00:00:00Z", Seq: 7, Timeline: []int{1, 2, 3}}
			r.ReadModel[id] = st
			st.Exec = "Completed"
			r.Workflow[id] = st
			r.Events[id] = []int{1, 2, 3}
			for _, task := range r.TaskKeys[svc] {
				calls := 1
				if task == "assign" {
					calls = 2 // the retry of a call whose answer was lost
				}
				for range calls {
					req, _ := http.NewRequest(http.MethodPost, srv.URL+"/hooks/"+task, strings.NewReader(`{}`))
					req.Header.Set("Idempotency-Key", id+"."+task)
					resp, err := http.DefaultClient.Do(req)
					if err != nil {
						t.Fatal(err)
					}
					resp.Body.Close()
				}
			}
		}
		return check(r)
	}
	table, problems := run(true)
	if len(problems) != 0 {
		t.Fatalf("idempotent sink: problems %q\n%s", problems, strings.Join(table, "\n"))
	}
	if !hasRow(table, "keys called more than once", "1") || !hasRow(table, "effects applied at the sink", "3") ||
		!hasRow(table, "effects a non-idempotent sink would apply", "4") {
		t.Errorf("idempotent sink: the repeat is not counted:\n%s", strings.Join(table, "\n"))
	}
	table, problems = run(false)
	found := false
	for _, p := range problems {
		if strings.Contains(p, "REQ-000002.assign applied 2 times") {
			found = true
		}
	}
	if !found || !hasRow(table, "effects doubled", "1") {
		t.Fatalf("idempotency off: the doubling is not reported: problems %q\n%s", problems, strings.Join(table, "\n"))
	}
	t.Logf("idempotency off, as check reports it:\n%s\nproblems: %q", strings.Join(table, "\n"), problems)

	// A lost request and a doubled one are reported too.
	r := &faultRun{Flows: []*flow{
		{Index: 0, Service: "software-licence", Key: "a", IDs: map[string]int{"REQ-000001": 1, "REQ-000002": 1}, Final: "resolved"},
		{Index: 1, Service: "software-licence", Key: "b", IDs: map[string]int{}, Err: "no answer in 6m0s"},
	}, StoreRows: 3, Workflows: 2}
	_, problems = check(r)
	want := []string{"key a answered 2 request ids", "flow 1 (software-licence, key b): no answer", "ESM's database holds 3 requests"}
	for _, w := range want {
		ok := false
		for _, p := range problems {
			ok = ok || strings.Contains(p, w)
		}
		if !ok {
			t.Errorf("no problem %q in %q", w, problems)
		}
	}
}

func hasRow(table []string, name, value string) bool {
	for _, l := range table {
		if strings.HasPrefix(l, name) && strings.TrimSpace(strings.TrimPrefix(l, name)) == value {
			return true
		}
	}
	return false
}
