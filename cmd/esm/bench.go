package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime/pprof"
	"sort"
	"sync"
	"time"

	"github.com/esmhq/esm/activities"
	"github.com/esmhq/esm/api"
	"github.com/esmhq/esm/bench"
	"github.com/esmhq/esm/catalog"
	"github.com/esmhq/esm/examples/hooks"
	"github.com/esmhq/esm/store"
	"github.com/esmhq/esm/worker"
	"github.com/esmhq/esm/workflows"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/testsuite"
	sdkworker "go.temporal.io/sdk/worker"
)

// benchService is auto-approved and has one automated task, as issue 10 specifies.
const benchService = `
services:
  - key: bench-auto
    name: Benchmark service
    department: it
    owner: oscar
    request: {form: {type: object, properties: {n: {type: integer}}}}
    approval: {auto_approve: "true"}
    fulfilment:
      tasks:
        - id: call
          name: Call the sink
          group: it-service-desk
          kind: automated
          http: {method: POST, url: "${ESM_HOOKS_URL}/sink", body: {request: "{{request.id}}"}}
  - key: bench-approve
    name: Benchmark service with a manager approval
    department: it
    owner: oscar
    request: {form: {type: object}}
    approval: {steps: [{name: manager, approvers: {manager: true}}]}
    fulfilment:
      tasks:
        - {id: call, name: Call the sink, group: it-service-desk, kind: automated, http: {method: POST, url: "${ESM_HOOKS_URL}/sink"}}
`

// startDevServer starts a quiet, in-memory Temporal dev server from the CLI at bin, with extra
// start-dev arguments (esm bench, and the command's tests).
func startDevServer(ctx context.Context, bin string, args ...string) (*testsuite.DevServer, error) {
	return testsuite.StartDevServer(ctx, testsuite.DevServerOptions{ExistingPath: bin, LogLevel: "error",
		ClientOptions: &client.Options{Namespace: "default", Logger: quietLogger{}},
		ExtraArgs:     args, Stdout: io.Discard, Stderr: io.Discard})
}

// benchCmd measures ESM end to end against two bare-SDK baselines on the same fresh in-memory dev
// server, in one run, and prints the ratios.
func benchCmd(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	n := fs.Int("n", 200, "requests (and baseline workflows) per phase")
	c := fs.Int("c", 10, "concurrency")
	bin := fs.String("temporal", filepath.Join("bin", "temporal"), "the Temporal CLI")
	timeline := fs.Bool("timeline", false, "print the history of one request of the ESM phase, with the time of each event")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of this process (API, worker, load) during the ESM phase to this file")
	pollers := fs.Int("pollers", 0, "open polls per task queue kind, for ESM's worker and the baselines' alike: 0 scales them (ESM's default), n keeps n, -1 the SDK's default of two")
	if err := fs.Parse(args); err != nil {
		return err
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	ds, err := startDevServer(ctx, *bin, workflows.SearchAttributeFlags()...)
	if err != nil {
		return fmt.Errorf("start the dev server: %w", err)
	}
	defer ds.Stop()

	sink := httptest.NewServer(hooks.New())
	defer sink.Close()
	os.Setenv("ESM_HOOKS_URL", sink.URL+"/hooks")
	dir, err := os.MkdirTemp("", "esm-bench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	dbURL := os.Getenv("DATABASE_URL")
	if dbURL == "" {
		dbURL = filepath.Join(dir, "esm.db")
	}
	s, err := store.Open(ctx, dbURL)
	if err != nil {
		return err
	}
	defer s.Close()
	if err := s.Migrate(ctx); err != nil {
		return err
	}
	extra := filepath.Join(dir, "bench.yaml")
	if err := os.WriteFile(extra, []byte(benchService), 0o644); err != nil {
		return err
	}
	b, err := catalog.Load("examples", extra)
	if err != nil {
		return err
	}
	if _, err := s.ApplyBundle(ctx, b, time.Now()); err != nil {
		return err
	}
	cfg := loadConfig()
	tc, err := client.Dial(client.Options{HostPort: ds.FrontendHostPort(), Logger: quietLogger{}, DataConverter: cfg.Codec.DataConverter()})
	if err != nil {
		return err
	}
	defer tc.Close()
	wopts := worker.Options{Notifier: activities.LogNotifier{Log: quiet}, Pollers: *pollers}
	w := worker.New(tc, s, wopts)
	if err := w.Start(); err != nil {
		return err
	}
	defer w.Stop()
	secret := []byte("bench-secret-0123456789abcdef")
	srv := httptest.NewServer(api.New(api.Config{Store: s, Temporal: tc, JWTSecret: secret, Logger: quiet, RatePerSecond: -1}).Handler())
	defer srv.Close()

	// Baselines on a bare client (default converter) and worker.
	bc, err := client.Dial(client.Options{HostPort: ds.FrontendHostPort(), Logger: quietLogger{}})
	if err != nil {
		return err
	}
	defer bc.Close()
	bw := sdkworker.New(bc, bench.TaskQueue, wopts.SDK())
	bw.RegisterWorkflow(bench.Minimal)
	bw.RegisterWorkflow(bench.Equivalent)
	bw.RegisterActivity(bench.NoOp)
	if err := bw.Start(); err != nil {
		return err
	}
	defer bw.Stop()

	fmt.Fprintf(out, "esm bench: %d per phase, concurrency %d, pollers %s, one dev server (one history shard), this machine\n\n", *n, *c, pollersName(*pollers))
	// Warm up every path once.
	token, _ := api.IssueToken(secret, "alice", time.Now(), time.Hour)
	if _, _, err := submitAndWait(srv.URL, token, "warmup"); err != nil {
		return fmt.Errorf("warm up: %w", err)
	}

	// How much work a standard request is: its history's events and activities, its task's
	// child workflow's included.
	work, err := historyOf(ctx, tc, workflows.RequestWorkflowID("REQ-000001"))
	if err != nil {
		return err
	}

	var submitLat, getLat lats
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
	}
	ours := phase(*n, *c, func(i int) error {
		sub, gets, err := submitAndWait(srv.URL, token, fmt.Sprintf("bench-%d", i))
		submitLat.add(sub)
		getLat.add(gets...)
		return err
	})
	pprof.StopCPUProfile()
	if *timeline {
		// One request from the middle of the phase, under load.
		fmt.Fprintf(out, "the history of REQ-%06d and its task, in ms since each workflow started:\n", *n/2)
		if err := printTimeline(ctx, tc, workflows.RequestWorkflowID(fmt.Sprintf("REQ-%06d", *n/2)), out); err != nil {
			return err
		}
		fmt.Fprintln(out)
	}
	// Decisions: requests that Alice's manager approves, submitted first, then approved, timed.
	bob, _ := api.IssueToken(secret, "bob", time.Now(), time.Hour)
	var decideLat lats
	var pendingIDs []string
	for i := 0; i < *n/4; i++ {
		id, err := submit(srv.URL, token, "bench-approve", fmt.Sprintf("decide-%d", i))
		if err != nil {
			return err
		}
		pendingIDs = append(pendingIDs, id)
	}
	phase(len(pendingIDs), *c, func(i int) error {
		start := time.Now()
		status, out, err := call("POST", srv.URL+"/v1/requests/"+pendingIDs[i]+"/decision", bob, `{"decision":"approve"}`, "")
		decideLat.add(time.Since(start))
		if err == nil && status != http.StatusOK {
			err = fmt.Errorf("decision: %d %v", status, out)
		}
		return err
	})
	// Let the approved requests finish their tasks before the baselines run on the same server.
	for _, id := range pendingIDs {
		if err := waitResolved(srv.URL, token, id); err != nil {
			return err
		}
	}
	minimal := phase(*n, *c, func(i int) error {
		run, err := bc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: fmt.Sprintf("minimal-%d", i), TaskQueue: bench.TaskQueue}, bench.Minimal, bench.MinimalInput{})
		if err == nil {
			err = run.Get(ctx, nil)
		}
		return err
	})
	var uwsLat lats
	equivalent := phase(*n, *c, func(i int) error {
		start := time.Now()
		op := bc.NewWithStartWorkflowOperation(client.StartWorkflowOptions{ID: fmt.Sprintf("equivalent-%d", i), TaskQueue: bench.TaskQueue,
			WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING}, bench.Equivalent, bench.EquivalentInput{Activities: work.activities, LocalActivities: work.locals})
		h, err := bc.UpdateWithStartWorkflow(ctx, client.UpdateWithStartWorkflowOptions{StartWorkflowOperation: op,
			UpdateOptions: client.UpdateWorkflowOptions{UpdateName: bench.SubmitUpdate, WaitForStage: client.WorkflowUpdateStageCompleted}})
		if err == nil {
			err = h.Get(ctx, nil)
		}
		uwsLat.add(time.Since(start))
		if err != nil {
			return err
		}
		run, err := op.Get(ctx)
		if err == nil {
			err = bc.GetWorkflow(ctx, run.GetID(), run.GetRunID()).Get(ctx, nil)
		}
		return err
	})

	fmt.Fprintf(out, "a standard request (auto-approved, one automated task): %d history events in its workflow and %d in %d child workflows; %d activities, %d local activities\n\n",
		work.events, work.childEvents, work.children, work.activities, work.locals)
	fmt.Fprintf(out, "%-34s %10s %8s\n", "phase", "req/s", "errors")
	for _, p := range []struct {
		name string
		r    result
	}{{"ESM end to end (API -> resolved)", ours}, {"baseline: minimal (1 no-op)", minimal}, {fmt.Sprintf("baseline: equivalent (%d+%d local, UwS)", work.activities, work.locals), equivalent}} {
		fmt.Fprintf(out, "%-34s %10.1f %8d\n", p.name, p.r.rate, p.r.errors)
	}
	fmt.Fprintf(out, "\nratios: ESM / minimal = %.2f, ESM / equivalent = %.2f\n", ours.rate/minimal.rate, ours.rate/equivalent.rate)
	fmt.Fprintf(out, "\nlatency (ms)          p50     p95     p99\n")
	for _, l := range []struct {
		name string
		l    *lats
	}{{"submit", &submitLat}, {"get", &getLat}, {"decision", &decideLat}, {"bare update-with-start", &uwsLat}} {
		p50, p95, p99 := l.l.percentiles()
		fmt.Fprintf(out, "%-20s %7.1f %7.1f %7.1f\n", l.name, p50, p95, p99)
	}
	_, _, u99 := uwsLat.percentiles()
	_, _, s99 := submitLat.percentiles()
	fmt.Fprintf(out, "\nsubmit p99 - bare update-with-start p99 = %.1f ms\n", s99-u99)
	return nil
}

type result struct {
	rate   float64
	errors int
}

// phase runs n calls of fn at concurrency c and returns calls per second.
func phase(n, c int, fn func(i int) error) result {
	var wg sync.WaitGroup
	var mu sync.Mutex
	errs := 0
	next := make(chan int)
	start := time.Now()
	for k := 0; k < c; k++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if err := fn(i); err != nil {
					mu.Lock()
					errs++
					mu.Unlock()
				}
			}
		}()
	}
	for i := 0; i < n; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
	return result{rate: float64(n) / time.Since(start).Seconds(), errors: errs}
}

type lats struct {
	mu sync.Mutex
	d  []time.Duration
}

func (l *lats) add(ds ...time.Duration) {
	l.mu.Lock()
	l.d = append(l.d, ds...)
	l.mu.Unlock()
}

func (l *lats) percentiles() (float64, float64, float64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.d) == 0 {
		return 0, 0, 0
	}
	sort.Slice(l.d, func(i, j int) bool { return l.d[i] < l.d[j] })
	at := func(p float64) float64 {
		return float64(l.d[min(len(l.d)-1, int(p*float64(len(l.d))))].Microseconds()) / 1000
	}
	return at(.50), at(.95), at(.99)
}

var benchHTTP = &http.Client{Timeout: time.Minute, Transport: &http.Transport{MaxIdleConnsPerHost: 64, DialContext: (&net.Dialer{}).DialContext}}

// call makes one API call as the token's person and decodes the JSON answer.
func call(method, url, token, body, key string) (int, map[string]any, error) {
	var rd io.Reader
	if body != "" {
		rd = bytes.NewReader([]byte(body))
	}
	req, _ := http.NewRequest(method, url, rd)
	req.Header.Set("Authorization", "Bearer "+token)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	resp, err := benchHTTP.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, out, nil
}

// submit submits a request of the service and returns its id.
func submit(base, token, service, key string) (string, error) {
	status, out, err := call("POST", base+"/v1/requests", token, `{"service":"`+service+`","form":{}}`, key)
	if err != nil {
		return "", err
	}
	if status != http.StatusCreated {
		return "", fmt.Errorf("submit %s: %d %v", service, status, out)
	}
	return out["id"].(string), nil
}

// statusOf reads a request's status.
func statusOf(base, token, id string) (string, error) {
	_, st, err := call("GET", base+"/v1/requests/"+id, token, "", "")
	s, _ := st["status"].(string)
	return s, err
}

// submitAndWait submits a bench request and polls it until it resolves.
func submitAndWait(base, token, key string) (time.Duration, []time.Duration, error) {
	start := time.Now()
	id, err := submit(base, token, "bench-auto", key)
	submitted := time.Since(start)
	if err != nil {
		return submitted, nil, err
	}
	var gets []time.Duration
	for {
		g := time.Now()
		s, err := statusOf(base, token, id)
		gets = append(gets, time.Since(g))
		switch {
		case err != nil:
			return submitted, gets, err
		case s == catalog.StatusResolved:
			return submitted, gets, nil
		case catalog.Terminal(s):
			return submitted, gets, fmt.Errorf("request ended %s", s)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitResolved waits until a request has closed.
func waitResolved(base, token, id string) error {
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		s, err := statusOf(base, token, id)
		if err != nil {
			return err
		}
		if catalog.Terminal(s) {
			return nil
		}
	}
	return fmt.Errorf("%s did not finish", id)
}

// work is how much a workflow does, as its history and its children's histories show.
type work struct {
	events, childEvents, children, activities, locals int
}

// historyOf counts a workflow's history events, and its child workflows' events, and the
// activities and local activities they ran.
func historyOf(ctx context.Context, tc client.Client, workflowID string) (work, error) {
	var w work
	it := tc.GetWorkflowHistory(ctx, workflowID, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			return w, err
		}
		w.events++
		switch ev.GetEventType() {
		case enumspb.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
			w.activities++
		case enumspb.EVENT_TYPE_MARKER_RECORDED:
			if ev.GetMarkerRecordedEventAttributes().GetMarkerName() == "LocalActivity" {
				w.locals++
			}
		case enumspb.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_STARTED:
			child, err := historyOf(ctx, tc, ev.GetChildWorkflowExecutionStartedEventAttributes().GetWorkflowExecution().GetWorkflowId())
			if err != nil {
				return w, err
			}
			w.children += 1 + child.children
			w.childEvents += child.events + child.childEvents
			w.activities += child.activities
			w.locals += child.locals
		}
	}
	return w, nil
}

// pollersName says what esm bench's -pollers means.
func pollersName(n int) string {
	switch {
	case n == 0:
		return "scaled with the load"
	case n < 0:
		return "the SDK's default (2)"
	}
	return fmt.Sprint(n)
}

// printTimeline prints a workflow's history, and its children's, with each event's time since
// the workflow started: where a request's time goes.
func printTimeline(ctx context.Context, tc client.Client, workflowID string, out io.Writer) error {
	it := tc.GetWorkflowHistory(ctx, workflowID, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	var start time.Time
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			return err
		}
		if start.IsZero() {
			start = ev.GetEventTime().AsTime()
		}
		fmt.Fprintf(out, "  %-30s %3d %7.1f %s\n", workflowID, ev.GetEventId(), float64(ev.GetEventTime().AsTime().Sub(start).Microseconds())/1000, ev.GetEventType())
		if ev.GetEventType() == enumspb.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_STARTED {
			if err := printTimeline(ctx, tc, ev.GetChildWorkflowExecutionStartedEventAttributes().GetWorkflowExecution().GetWorkflowId(), out); err != nil {
				return err
			}
		}
	}
	return nil
}
