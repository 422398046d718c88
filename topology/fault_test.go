//go:build topology

package topology_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	_ "github.com/lib/pq"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"

	"github.com/esmhq/esm/catalog"
	"github.com/esmhq/esm/codec"
	"github.com/esmhq/esm/topology"
	"github.com/esmhq/esm/workflows"
)

// Fault test sizes: at least faultRequests requests, one started every faultPace, at most
// faultActive at a time; a client gives up on a request after faultFlowTimeout.
const (
	faultRequests    = 200
	faultPace        = 400 * time.Millisecond
	faultActive      = 24
	faultFlowTimeout = 6 * time.Minute
)

// Who does what in the example catalog (examples/directory.yaml, examples/services): the
// requesters' manager is bob (he approves their software licences); HR Operations approves an
// onboarding; each manual task's group has two members who work it.
var (
	faultRequesters = []string{"alice", "carol", "erin"}
	faultMembers    = map[string][]string{
		"hr-operations":        {"helen", "hugo"},
		"it-service-desk":      {"dave", "frank"},
		"facilities-workplace": {"walt", "will"},
		"it-licensing":         {"omar"},
	}
	faultTaskKeys = map[string][]string{"onboarding": {"hr-record", "accounts"}, "software-licence": {"assign"}}
)

// faultClient is the clients' shared transport and counters: each call goes to the next API
// (round-robin, as a load balancer would), and is retried with the same Idempotency-Key on a
// connection error, a timeout, a 5xx, a 429 or a 409 with Retry-After (a call with the key still
// in progress), after the Retry-After the answer gives.
type faultClient struct {
	apis     []string
	next     atomic.Int64
	http     *http.Client
	mu       sync.Mutex
	statuses map[int]int
	netErrs  int
	no503RA  int
	lagged   int // approvals answered 404 (the read model not yet naming the approver), retried
	tokens   map[string]string
	submits  atomic.Int64 // submissions in flight
}

func (c *faultClient) count(status int, retryAfter string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.statuses[status]++
	if status == http.StatusServiceUnavailable && retryAfter == "" {
		c.no503RA++
	}
}

// do makes one call until it has an answer that is not worth retrying, or ctx ends.
func (c *faultClient) do(ctx context.Context, method, path, who, key string, body any) (int, []byte, error) {
	var raw []byte
	if body != nil {
		raw, _ = json.Marshal(body)
	}
	for attempt := 0; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return 0, nil, fmt.Errorf("%s %s as %s: no answer before the deadline (%d attempts)", method, path, who, attempt)
		}
		api := c.apis[int(c.next.Add(1))%len(c.apis)]
		req, _ := http.NewRequestWithContext(ctx, method, "http://"+api+path, bytes.NewReader(raw))
		req.Header.Set("Authorization", "Bearer "+c.tokens[who])
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		if key != "" {
			req.Header.Set("Idempotency-Key", key)
		}
		resp, err := c.http.Do(req)
		if err != nil {
			c.mu.Lock()
			c.netErrs++
			c.mu.Unlock()
			sleep(ctx, time.Duration(200+100*min(attempt, 8))*time.Millisecond)
			continue
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		ra := resp.Header.Get("Retry-After")
		c.count(resp.StatusCode, ra)
		retry := resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests ||
			(resp.StatusCode == http.StatusConflict && ra != "")
		if !retry {
			return resp.StatusCode, b, nil
		}
		wait := 500 * time.Millisecond
		if n, err := strconv.Atoi(ra); err == nil {
			wait = min(time.Duration(n)*time.Second, 3*time.Second)
		}
		sleep(ctx, wait)
	}
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}

// state reads a request as who (GET, retried).
func (c *faultClient) state(ctx context.Context, id, who string) (catalog.RequestState, error) {
	code, b, err := c.do(ctx, http.MethodGet, "/v1/requests/"+id, who, "", nil)
	if err != nil {
		return catalog.RequestState{}, err
	}
	var st catalog.RequestState
	if code != http.StatusOK {
		return st, fmt.Errorf("GET %s: %d %s", id, code, b)
	}
	return st, json.Unmarshal(b, &st)
}

// runFlow is one client's request from submission to its end: the requester submits, the right
// approver approves, the manual tasks' group members claim and complete them, the requester reads
// it until it is closed.
func (c *faultClient) runFlow(ctx context.Context, f *flow, run string) {
	ctx, cancel := context.WithTimeout(ctx, faultFlowTimeout)
	defer cancel()
	requester := faultRequesters[f.Index%len(faultRequesters)]
	form := map[string]any{"product": "ide-pro"}
	if f.Service == "onboarding" {
		form = map[string]any{"joiner_name": fmt.Sprintf("Joiner %d", f.Index), "start_date": "2030-01-15", "location": "london"}
	}
	c.submits.Add(1)
	code, b, err := c.do(ctx, http.MethodPost, "/v1/requests", requester, f.Key, map[string]any{"service": f.Service, "form": form})
	c.submits.Add(-1)
	if err != nil {
		f.Err = err.Error()
		return
	}
	var sub struct{ ID string }
	_ = json.Unmarshal(b, &sub)
	if (code != http.StatusCreated && code != http.StatusOK) || sub.ID == "" {
		f.Err = fmt.Sprintf("submit: %d %s", code, b)
		return
	}
	f.IDs[sub.ID]++
	// A client that is unsure whether its submission took effect sends it again with the same
	// key: the same request comes back.
	if f.Index%10 == 0 {
		if code, b, err := c.do(ctx, http.MethodPost, "/v1/requests", requester, f.Key, map[string]any{"service": f.Service, "form": form}); err == nil {
			var again struct{ ID string }
			_ = json.Unmarshal(b, &again)
			if again.ID != "" {
				f.IDs[again.ID]++
			} else {
				f.Err = fmt.Sprintf("submit again: %d %s", code, b)
				return
			}
		}
	}
	id := sub.ID
	approver := "bob"
	if f.Service == "onboarding" {
		approver = faultMembers["hr-operations"][f.Index%2]
	}
	approved := false
	approveKey := f.Key + ".approve" // a decision answered 404 is sent again with this same key
	for {
		st, err := c.state(ctx, id, requester)
		if err != nil {
			f.Err = err.Error()
			return
		}
		f.Final = st.Status
		if catalog.Terminal(st.Status) {
			return
		}
		if st.Status == catalog.StatusPendingApproval && !approved {
			code, b, err := c.do(ctx, http.MethodPost, "/v1/requests/"+id+"/decision", approver, approveKey,
				map[string]any{"decision": "approve", "comment": "fault test"})
			if err != nil {
				f.Err = err.Error()
				return
			}
			if code == http.StatusNotFound {
				// The approver sees the request once the read model lists them as its approver:
				// the workflow's write of it may lag (ESM's database was down). The guard keeps
				// no 404 for a key (api/guard.go finalAnswer releases it), so the client sends the
				// decision again later with the same key, as a real client retrying one intended
				// action does, and gets the fresh answer.
				c.mu.Lock()
				c.lagged++
				c.mu.Unlock()
				sleep(ctx, time.Second)
				continue
			}
			if code != http.StatusOK {
				f.Err = fmt.Sprintf("approve %s as %s: %d %s", id, approver, code, b)
				return
			}
			approved = true
			continue
		}
		for _, t := range st.Tasks {
			if t.Kind != catalog.TaskManual || !t.Actionable || (t.State != catalog.TaskOpen && t.State != catalog.TaskClaimed) {
				continue
			}
			members := faultMembers[t.Group]
			if len(members) == 0 {
				f.Err = fmt.Sprintf("task %s of group %s: nobody here works it", t.Ref, t.Group)
				return
			}
			who := members[f.Index%len(members)]
			if t.State == catalog.TaskOpen {
				code, b, err := c.do(ctx, http.MethodPost, "/v1/tasks/"+t.Ref+"/claim", who, f.Key+"."+t.ID+".claim", nil)
				if err != nil {
					f.Err = err.Error()
					return
				}
				if code != http.StatusOK {
					f.Err = fmt.Sprintf("claim %s as %s: %d %s", t.Ref, who, code, b)
					return
				}
			} else if t.Assignee != who {
				f.Err = fmt.Sprintf("task %s claimed by %s, not %s", t.Ref, t.Assignee, who)
				return
			}
			outputs := map[string]any{}
			if t.ID == "laptop" {
				outputs["asset_tag"] = fmt.Sprintf("LT-%04d", f.Index)
			}
			code, b, err := c.do(ctx, http.MethodPost, "/v1/tasks/"+t.Ref+"/complete", who, f.Key+"."+t.ID+".complete", map[string]any{"outputs": outputs})
			if err != nil {
				f.Err = err.Error()
				return
			}
			if code != http.StatusOK {
				f.Err = fmt.Sprintf("complete %s as %s: %d %s", t.Ref, who, code, b)
				return
			}
		}
		sleep(ctx, time.Second)
	}
}

// TestFault is issue 20's fault test: the production topology (two APIs, two workers, the real
// Temporal server, Postgres clusters of its own) with its automated tasks going to the test's
// own sink, under a load of at least 200 requests (half onboardings: two automated tasks and
// three manual ones; half software licences: one automated task) sent round-robin to both APIs
// by clients that retry with the same Idempotency-Key, while in turn: a worker is killed with
// SIGKILL five times (and started again), an API is killed with SIGKILL during submissions, the
// Temporal server is restarted, ESM's database is stopped for 30 s, and both APIs are restarted
// one after the other as a rolling deploy. Then check (faultcheck_test.go) asks: every request
// resolved once, every automated effect applied once, the read model equal to each workflow's
// final state, every audit trail whole, no 500, /readyz false while a dependency was down. The
// counts are printed as a table.
func TestFault(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the production topology")
	}
	r := root(t)
	needBinaries(t, r)
	began := time.Now()
	sk := newSink(true)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hooks := &http.Server{Handler: sk}
	go hooks.Serve(ln)
	defer hooks.Close()

	// The data directory (clusters, logs) is kept when the test fails, for its logs.
	data, err := os.MkdirTemp("", "esm-fault-")
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if !t.Failed() {
			os.RemoveAll(data)
		}
	}()
	spec, err := topology.Plan(topology.Options{Root: r, Data: data, HooksURL: "http://" + ln.Addr().String() + "/hooks"})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var runlog syncBuffer
	topo, err := topology.Start(ctx, spec, &runlog)
	if err != nil {
		t.Fatalf("%v\n%s", err, runlog.String())
	}
	defer topo.Close()
	defer func() {
		if t.Failed() {
			t.Logf("runner's log:\n%s\nprocess logs under %s", runlog.String(), filepath.Join(spec.Data, "logs"))
		}
	}()
	t.Logf("topology ready in %s", time.Since(began).Round(time.Millisecond))

	api1, _ := spec.Process(topology.APIName(1))
	env := api1.Env
	c := &faultClient{
		apis:     []string{topo.Addr(topology.APIName(1), "http"), topo.Addr(topology.APIName(2), "http")},
		http:     &http.Client{Timeout: 30 * time.Second},
		statuses: map[int]int{},
		tokens:   map[string]string{},
	}
	people := append([]string{"bob"}, faultRequesters...)
	for _, ms := range faultMembers {
		people = append(people, ms...)
	}
	for _, p := range people {
		cmd := exec.Command(filepath.Join(r, "bin", "esm"), "token", p)
		cmd.Env = []string{"DATABASE_URL=" + env["DATABASE_URL"], "ESM_JWT_SECRET=" + env["ESM_JWT_SECRET"], "ESM_PAYLOAD_KEYS=" + env["ESM_PAYLOAD_KEYS"]}
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("esm token %s: %v", p, err)
		}
		c.tokens[p] = strings.TrimSpace(string(out))
	}

	// The load: a request every faultPace, at least faultRequests of them and on until the
	// faults are over.
	run := &faultRun{Statuses: map[int]int{}, Ready: map[string][2]int{}, TaskKeys: faultTaskKeys, Sink: sk,
		ReadModel: map[string]final{}, Workflow: map[string]final{}, Events: map[string][]int{}}
	var faultsDone atomic.Bool
	var flows sync.WaitGroup
	var launched sync.WaitGroup
	launched.Add(1)
	go func() {
		defer launched.Done()
		active := make(chan struct{}, faultActive)
		for i := 0; i < 2*faultRequests && (i < faultRequests || !faultsDone.Load()); i++ {
			svc := "software-licence"
			if i%2 == 0 {
				svc = "onboarding"
			}
			f := &flow{Index: i, Service: svc, Key: fmt.Sprintf("fault-%d-%d", began.Unix(), i), IDs: map[string]int{}}
			run.Flows = append(run.Flows, f)
			active <- struct{}{}
			flows.Add(1)
			go func() {
				defer func() { <-active; flows.Done() }()
				c.runFlow(ctx, f, "")
			}()
			time.Sleep(faultPace)
		}
	}()

	// The faults, in turn.
	fault := func(what string, do func() error) {
		t0 := time.Now()
		if err := do(); err != nil {
			t.Errorf("%s: %v", what, err)
		}
		line := fmt.Sprintf("%-52s %s", what, time.Since(t0).Round(time.Millisecond))
		run.Faults = append(run.Faults, line)
		t.Log(line)
	}
	readyWhile := func(down string, d time.Duration) {
		end := time.Now().Add(d)
		for time.Now().Before(end) {
			for i := 1; i <= 2; i++ {
				name := topology.APIName(i)
				k := down + " " + name
				v := run.Ready[k]
				if topo.Healthy(ctx, name) == nil {
					v[0]++
				} else {
					v[1]++
				}
				run.Ready[k] = v
			}
			time.Sleep(time.Second)
		}
	}
	time.Sleep(15 * time.Second) // requests in every stage before the first fault
	for i := range 5 {
		w := topology.WorkerName(i%2 + 1)
		fault(fmt.Sprintf("SIGKILL %s (%d of 5), start it again", w, i+1), func() error {
			if err := topo.Kill(w); err != nil {
				return err
			}
			time.Sleep(2 * time.Second)
			return topo.StartProcess(ctx, w)
		})
		time.Sleep(4 * time.Second)
	}
	fault("SIGKILL esm-api-2 during submissions, start it again", func() error {
		for deadline := time.Now().Add(30 * time.Second); c.submits.Load() == 0 && time.Now().Before(deadline); {
			time.Sleep(5 * time.Millisecond)
		}
		if err := topo.Kill(topology.APIName(2)); err != nil {
			return err
		}
		time.Sleep(2 * time.Second)
		return topo.StartProcess(ctx, topology.APIName(2))
	})
	time.Sleep(4 * time.Second)
	fault("restart the Temporal server", func() error {
		if err := topo.Stop(topology.Temporal); err != nil {
			return err
		}
		readyWhile("temporal", 3*time.Second)
		return topo.StartProcess(ctx, topology.Temporal)
	})
	time.Sleep(6 * time.Second)
	fault("stop ESM's database (pg-esm) for 30 s", func() error {
		if err := topo.Stop(topology.PGESM); err != nil {
			return err
		}
		readyWhile("pg-esm", 30*time.Second)
		return topo.StartProcess(ctx, topology.PGESM)
	})
	time.Sleep(6 * time.Second)
	fault("rolling deploy: restart esm-api-1, then esm-api-2", func() error {
		for i := 1; i <= 2; i++ {
			if err := topo.Restart(ctx, topology.APIName(i)); err != nil {
				return err
			}
		}
		return nil
	})
	faultsDone.Store(true)
	launched.Wait()
	flows.Wait()
	t.Logf("load done: %d requests in %s", len(run.Flows), time.Since(began).Round(time.Second))

	// What ESM's database, Temporal and the API say now.
	c.mu.Lock()
	run.Statuses, run.NetErrors, run.No503Retry, run.Lagged = c.statuses, c.netErrs, c.no503RA, c.lagged
	c.mu.Unlock()
	db, err := sql.Open("postgres", env["DATABASE_URL"])
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.QueryRow(`SELECT count(*) FROM requests`).Scan(&run.StoreRows); err != nil {
		t.Fatal(err)
	}
	rows, err := db.Query(`SELECT request_id, seq FROM request_events ORDER BY request_id, seq`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id string
		var seq int
		if err := rows.Scan(&id, &seq); err != nil {
			t.Fatal(err)
		}
		run.Events[id] = append(run.Events[id], seq)
	}
	rows.Close()
	cd, err := codec.Parse(env["ESM_PAYLOAD_KEYS"])
	if err != nil {
		t.Fatal(err)
	}
	tc, err := client.Dial(client.Options{HostPort: env["TEMPORAL_ADDRESS"], Namespace: env["TEMPORAL_NAMESPACE"],
		DataConverter: cd.DataConverter(), Logger: tlog.NewStructuredLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))})
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	var token []byte
	for {
		resp, err := tc.ListWorkflow(ctx, &workflowservice.ListWorkflowExecutionsRequest{PageSize: 1000, NextPageToken: token})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range resp.Executions {
			if strings.HasPrefix(e.GetExecution().GetWorkflowId(), "request/") {
				run.Workflows++
			}
		}
		if token = resp.NextPageToken; len(token) == 0 {
			break
		}
	}
	stamp := func(at *time.Time) string {
		if at == nil {
			return ""
		}
		return at.UTC().Truncate(time.Microsecond).Format(time.RFC3339Nano)
	}
	seqs := func(tl []catalog.Event) []int {
		out := make([]int, len(tl))
		for i, e := range tl {
			out[i] = e.Seq
		}
		return out
	}
	// A resolved request's workflow completes once its last notification is sent (revision 5),
	// and a notification whose sent-log write met the database outage waits for its retry (up to
	// notifyRetry's 5 minutes apart): wait for every request's workflow to close before comparing
	// it with the read model, and say how long that took.
	settle := time.Now()
	wctx, wcancel := context.WithTimeout(ctx, 6*time.Minute)
	for _, f := range run.Flows {
		for id := range f.IDs {
			for wctx.Err() == nil {
				d, err := tc.DescribeWorkflowExecution(wctx, workflows.RequestWorkflowID(id), "")
				if err == nil && d.GetWorkflowExecutionInfo().GetStatus() != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
					break
				}
				time.Sleep(time.Second)
			}
		}
	}
	wcancel()
	t.Logf("every request's workflow closed %s after the load (its last notifications sent)", time.Since(settle).Round(time.Second))
	rctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	for _, f := range run.Flows {
		for id := range f.IDs {
			st, err := c.state(rctx, id, faultRequesters[f.Index%len(faultRequesters)])
			if err == nil {
				run.ReadModel[id] = final{Status: st.Status, ClosedAt: stamp(st.ClosedAt), Seq: st.Seq, Timeline: seqs(st.Timeline)}
			}
			wf := final{}
			if d, err := tc.DescribeWorkflowExecution(rctx, workflows.RequestWorkflowID(id), ""); err == nil {
				wf.Exec = d.GetWorkflowExecutionInfo().GetStatus().String()
			}
			v, err := tc.QueryWorkflow(rctx, workflows.RequestWorkflowID(id), "", workflows.StateQuery, workflows.StateQueryInput{})
			if err == nil {
				var ws catalog.RequestState
				if err := v.Get(&ws); err == nil {
					wf.Status, wf.ClosedAt, wf.Seq, wf.Timeline = ws.Status, stamp(ws.ClosedAt), ws.Seq, seqs(ws.Timeline)
					run.Workflow[id] = wf
				}
			}
		}
	}
	run.Duration = time.Since(began)

	table, problems := check(run)
	out := "fault test counts\n" + strings.Join(table, "\n") + "\nfaults:\n  " + strings.Join(run.Faults, "\n  ") + "\n"
	t.Log(out)
	fmt.Fprint(os.Stdout, out)
	for _, p := range problems {
		t.Error(p)
	}
}

// syncBuffer is a bytes.Buffer safe for the runner's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
