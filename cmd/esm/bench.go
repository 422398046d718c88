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
	"slices"
	"sort"
	"strings"
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
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
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
	n := fs.Int("n", 600, "requests (and baseline workflows) per phase")
	c := fs.Int("c", 10, "concurrency")
	bin := fs.String("temporal", filepath.Join("bin", "temporal"), "the Temporal CLI")
	rounds := fs.Int("rounds", 3, "rounds of the four phases, one after the other; rates and ratios are the rounds' medians")
	timeline := fs.Bool("timeline", false, "print the history of one request of the ESM phase, with the time of each event")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of this process (API, worker, load) during the ESM phase to this file")
	getEvery := fs.Duration("get-every", 0, "get each request this often until it is resolved (each get a Query of its workflow), instead of waiting with one long-polling get")
	gzip := fs.Bool("gzip", true, "gzip the gRPC calls to Temporal, ESM's and the baselines' alike (the SDK's default; ESM_TEMPORAL_GZIP)")
	pollers := fs.Int("pollers", 0, "open polls per task queue kind, for ESM's worker and the baselines' alike: 0 keeps ESM's default (16), n keeps n, -1 lets the SDK scale them")
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
	conn := connection(*gzip)
	tc, err := client.Dial(client.Options{HostPort: ds.FrontendHostPort(), Logger: quietLogger{}, DataConverter: cfg.Codec.DataConverter(), ConnectionOptions: conn})
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
	bc, err := client.Dial(client.Options{HostPort: ds.FrontendHostPort(), Logger: quietLogger{}, ConnectionOptions: conn})
	if err != nil {
		return err
	}
	defer bc.Close()
	bw := sdkworker.New(bc, bench.TaskQueue, wopts.SDK())
	bw.RegisterWorkflow(bench.Minimal)
	bw.RegisterWorkflow(bench.Equivalent)
	bw.RegisterWorkflow(bench.EquivalentChild)
	bw.RegisterWorkflow(bench.Decidable)
	bw.RegisterActivity(bench.NoOp)
	if err := bw.Start(); err != nil {
		return err
	}
	defer bw.Stop()

	fmt.Fprintf(out, "esm bench: %d per phase, concurrency %d, pollers %s, one dev server (one history shard), this machine\n\n", *n, *c, pollersName(*pollers))
	// Warm up every path once.
	token, _ := api.IssueToken(secret, "alice", time.Now(), time.Hour)
	// The requests come from everyone in the directory, in turn, as at a service desk (one
	// person's submissions are serialized, so that they cannot slip past the service's limits).
	var requesters []string
	for _, p := range b.People {
		t, _ := api.IssueToken(secret, p.ID, time.Now(), time.Hour)
		requesters = append(requesters, t)
	}
	// Idempotency keys of this run: a database used before (DATABASE_URL) holds earlier runs'.
	run := fmt.Sprint(time.Now().UnixNano())
	warm, _, _, err := submitAndWait(srv.URL, token, run+"-warmup", *getEvery)
	if err != nil {
		return fmt.Errorf("warm up: %w", err)
	}

	// A request with one approval, decided once: its bare counterpart (bench.Decidable) does in
	// no-ops what it does after the decision, the local activities its history shows after it.
	bob, _ := api.IssueToken(secret, "bob", time.Now(), time.Hour)
	warmDecide, err := submit(srv.URL, token, "bench-approve", run+"-warmup-decide")
	if err != nil {
		return fmt.Errorf("warm up: %w", err)
	}
	if status, out, err := call("POST", srv.URL+"/v1/requests/"+warmDecide+"/decision", bob, `{"decision":"approve"}`, ""); err != nil || status != http.StatusOK {
		return fmt.Errorf("warm up: decision %d %v %v", status, out, err)
	}
	if err := waitResolved(srv.URL, token, warmDecide); err != nil {
		return fmt.Errorf("warm up: %w", err)
	}
	esmDC := cfg.Codec.DataConverter()
	wd, err := historyOf(ctx, tc, esmDC, workflows.RequestWorkflowID(warmDecide))
	if err != nil {
		return err
	}
	decidable := bench.DecidableInput{LocalActivities: wd.afterDecide}

	// How much work a standard request is: its history's events and activities, its task's
	// child workflow's included.
	w0, err := historyOf(ctx, tc, esmDC, workflows.RequestWorkflowID(warm))
	if err != nil {
		return err
	}

	// The work of a standard request, as its history shows, and the two equivalent baselines:
	// the same work with no-ops in one workflow (as issue 10 defines it), and with a child
	// workflow per task as ESM ran them before revision 4 (issue 5), kept for reference.
	tree := w0.withChildren()
	total := w0.total()
	flat := bench.EquivalentInput{Activities: total.activities, LocalActivities: total.locals}

	var submitLat, getLat, decideLat, flatUwS, treeUwS lats
	var middle string // a request from the middle of the first round, for -timeline
	names := []string{"ESM end to end (API -> resolved)", "baseline: minimal (1 no-op activity)",
		"baseline: equivalent, flat (" + describe(flat) + ")", "baseline: equivalent, with children (" + describe(tree) + ")"}
	if len(w0.children) == 0 {
		names[3] = "baseline: equivalent, with children as before revision 4 (" + describe(tree) + ")"
	}
	rates := make([][]float64, len(names))
	errs := make([]int, len(names))
	cpus := make([]cpuUse, len(names))
	calls := make([]int, len(names))
	record := func(i int, r result) {
		rates[i] = append(rates[i], r.rate)
		errs[i] += r.errors
		cpus[i] = cpus[i].add(r.cpu)
		calls[i] += r.calls
	}
	for round := 0; round < *rounds; round++ {
		if round == 0 && *cpuProfile != "" {
			f, err := os.Create(*cpuProfile)
			if err != nil {
				return err
			}
			defer f.Close()
			if err := pprof.StartCPUProfile(f); err != nil {
				return err
			}
		}
		record(0, phase(*n, *c, func(i int) error {
			id, sub, gets, err := submitAndWait(srv.URL, requesters[i%len(requesters)], fmt.Sprintf("%s-bench-%d-%d", run, round, i), *getEvery)
			if round == 0 && i == *n/2 {
				middle = id
			}
			submitLat.add(sub)
			getLat.add(gets...)
			return err
		}))
		pprof.StopCPUProfile()
		record(1, phase(*n, *c, func(i int) error {
			run, err := bc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: fmt.Sprintf("minimal-%d-%d", round, i), TaskQueue: bench.TaskQueue}, bench.Minimal, bench.MinimalInput{})
			if err == nil {
				err = run.Get(ctx, nil)
			}
			return err
		}))
		record(2, phase(*n, *c, func(i int) error {
			return equivalent(ctx, bc, fmt.Sprintf("flat-%d-%d", round, i), flat, &flatUwS)
		}))
		record(3, phase(*n, *c, func(i int) error {
			return equivalent(ctx, bc, fmt.Sprintf("children-%d-%d", round, i), tree, &treeUwS)
		}))
	}

	// Submit against a bare update-with-start at the same load: once more, ESM's phase with one
	// more client beside it that update-with-starts the flat baseline, one after the other,
	// until the phase ends; both latencies are measured on the same server at the same time.
	var probeSubmit, probeUwS lats
	probeErrors := 0
	done := make(chan struct{})
	probed := make(chan struct{})
	go func() {
		defer close(probed)
		for k := 0; ; k++ {
			select {
			case <-done:
				return
			default:
			}
			if err := equivalent(ctx, bc, fmt.Sprintf("probe-%s-%d", run, k), flat, &probeUwS); err != nil {
				probeErrors++
			}
		}
	}()
	probeRun := phase(*n, *c, func(i int) error {
		_, sub, _, err := submitAndWait(srv.URL, requesters[i%len(requesters)], fmt.Sprintf("%s-probe-%d", run, i), *getEvery)
		probeSubmit.add(sub)
		return err
	})
	close(done)
	<-probed

	// Decisions: requests that Alice's manager approves, submitted first, then approved, timed,
	// with one bare client beside them that sends a bare update to a bare workflow waiting for
	// it (bench.Decidable, started beforehand as the requests were), one after the other, until
	// the phase ends: both latencies on the same server at the same time.
	decisions := *n / 2
	pendingIDs := make([]string, decisions)
	submitted := phase(decisions, *c, func(i int) error {
		id, err := submit(srv.URL, token, "bench-approve", fmt.Sprintf("%s-decide-%d", run, i))
		pendingIDs[i] = id
		return err
	})
	if submitted.errors > 0 {
		return fmt.Errorf("submit the requests to decide: %d errors", submitted.errors)
	}
	bareIDs := make([]string, decisions)
	started := phase(decisions, *c, func(i int) error {
		bareIDs[i] = fmt.Sprintf("decidable-%s-%d", run, i)
		_, err := bc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: bareIDs[i], TaskQueue: bench.TaskQueue}, bench.Decidable, decidable)
		return err
	})
	if started.errors > 0 {
		return fmt.Errorf("start the bare decidable workflows: %d errors", started.errors)
	}
	var bareUpdate lats
	bareErrors, bareDecided := 0, 0
	done = make(chan struct{})
	probed = make(chan struct{})
	go func() {
		defer close(probed)
		for k := 0; k < len(bareIDs); k++ {
			select {
			case <-done:
				return
			default:
			}
			start := time.Now()
			h, err := bc.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{WorkflowID: bareIDs[k], UpdateName: bench.DecideUpdate,
				WaitForStage: client.WorkflowUpdateStageCompleted})
			if err == nil {
				err = h.Get(ctx, nil)
			}
			bareUpdate.add(time.Since(start))
			bareDecided = k + 1
			if err != nil {
				bareErrors++
			}
		}
	}()
	decided := phase(len(pendingIDs), *c, func(i int) error {
		start := time.Now()
		status, out, err := call("POST", srv.URL+"/v1/requests/"+pendingIDs[i]+"/decision", bob, `{"decision":"approve"}`, "")
		decideLat.add(time.Since(start))
		if err == nil && status != http.StatusOK {
			err = fmt.Errorf("decision: %d %v", status, out)
		}
		return err
	})
	close(done)
	<-probed
	for _, id := range pendingIDs {
		if err := waitResolved(srv.URL, token, id); err != nil {
			return err
		}
	}
	// The bare workflows the probe left waiting are decided now, so that none stays running.
	rest := bareIDs[bareDecided:]
	_ = phase(len(rest), *c, func(i int) error {
		h, err := bc.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{WorkflowID: rest[i], UpdateName: bench.DecideUpdate,
			WaitForStage: client.WorkflowUpdateStageCompleted})
		if err == nil {
			err = h.Get(ctx, nil)
		}
		return err
	})

	fmt.Fprintf(out, "a standard request (auto-approved, one automated task): %d history events in its workflow and %d in %d child workflows; %d activities, %d local activities\n\n",
		w0.events, total.events-w0.events, total.children, total.activities, total.locals)
	// What each costs in Temporal Cloud billable actions, counted from one run's history.
	fmt.Fprintf(out, "%-72s %6s  %s\n", "history events and Temporal Cloud billable actions, one run each", "events", "actions (docs/BENCHMARKS.md has the rules)")
	bareDC := converter.GetDefaultDataConverter()
	for _, h := range []struct {
		name string
		w    *work
		id   string
	}{{"ESM: a standard request", &w0, ""}, {names[1], nil, "minimal-0-0"}, {names[2], nil, "flat-0-0"}, {names[3], nil, "children-0-0"},
		{"ESM: a request with one approval, approved", &wd, ""}, {"baseline: a bare workflow decided by a bare update", nil, bareIDs[0]}} {
		if h.w == nil {
			w, err := historyOf(ctx, bc, bareDC, h.id)
			if err != nil {
				return fmt.Errorf("the history of %s: %w", h.id, err)
			}
			h.w = &w
		}
		fmt.Fprintf(out, "%-72s %6d  %s\n", h.name, h.w.total().events, describeActions(h.w.allActions()))
	}
	fmt.Fprintf(out, "(queries are actions too and leave nothing in a history: ESM's phase gets each request once while it runs, a Query)\n\n")
	fmt.Fprintf(out, "%-72s %7s  %-20s %6s\n", "phase", "req/s", "rounds", "errors")
	for i, name := range names {
		each := make([]string, len(rates[i]))
		for k, r := range rates[i] {
			each[k] = fmt.Sprintf("%.1f", r)
		}
		fmt.Fprintf(out, "%-72s %7.1f  %-20s %6d\n", name, median(rates[i]), strings.Join(each, " "), errs[i])
	}
	ratio := func(k int) float64 {
		var rs []float64
		for r := range rates[0] {
			rs = append(rs, rates[0][r]/rates[k][r])
		}
		return median(rs)
	}
	fmt.Fprintf(out, "\nratios (median of the rounds'): ESM / minimal = %.2f, ESM / equivalent flat = %.2f, ESM / equivalent with children = %.2f\n",
		ratio(1), ratio(2), ratio(3))
	// Where the machine's processor time went, per call: what limits the rates on a machine
	// whose cores the server, the database and the load all share.
	fmt.Fprintf(out, "\n%-72s %12s %8s %9s %8s\n", "processor time per call, ms (all rounds)", "this process", "server", "postgres", "total")
	for i, name := range names {
		per := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 / float64(calls[i]) }
		u := cpus[i]
		fmt.Fprintf(out, "%-72s %12.2f %8.2f %9.2f %8.2f\n", name, per(u.self), per(u.server), per(u.postgres), per(u.self+u.server+u.postgres))
	}
	fmt.Fprintf(out, "(this process: ESM's API and worker, or the baselines' bare client and worker, and the load generator; server: the dev server; postgres: every postgres process)\n")
	fmt.Fprintf(out, "\nlatency (ms)                          p50     p95     p99\n")
	for _, l := range []struct {
		name string
		l    *lats
	}{{"submit", &submitLat}, {"get", &getLat}, {"decision", &decideLat}, {"bare update-with-start, flat", &flatUwS}, {"bare update-with-start, children", &treeUwS}, {"bare update, beside the decisions", &bareUpdate}} {
		p50, p95, p99 := l.l.percentiles()
		fmt.Fprintf(out, "%-34s %7.1f %7.1f %7.1f\n", l.name, p50, p95, p99)
	}
	_, _, s99 := submitLat.percentiles()
	_, _, f99 := flatUwS.percentiles()
	_, _, t99 := treeUwS.percentiles()
	fmt.Fprintf(out, "\nsubmit p99 - bare update-with-start p99 = %.1f ms (flat), %.1f ms (with children), in their own phases\n", s99-f99, s99-t99)
	ps50, _, ps99 := probeSubmit.percentiles()
	pu50, _, pu99 := probeUwS.percentiles()
	fmt.Fprintf(out, "at the same load (ESM's phase once more, %d bare update-with-starts beside its %d submits, %d errors): submit p50 %.1f, p99 %.1f ms; bare p50 %.1f, p99 %.1f ms; p99 difference %.1f ms\n",
		len(probeUwS.d), len(probeSubmit.d), probeRun.errors+probeErrors, ps50, ps99, pu50, pu99, ps99-pu99)
	d50, _, d99 := decideLat.percentiles()
	b50, _, b99 := bareUpdate.percentiles()
	fmt.Fprintf(out, "decision at the same load (%d decisions, %d bare updates beside them, %d errors): decision p50 %.1f, p99 %.1f ms; bare update p50 %.1f, p99 %.1f ms; p99 difference %.1f ms\n",
		len(decideLat.d), len(bareUpdate.d), decided.errors+bareErrors, d50, d99, b50, b99, d99-b99)
	if *timeline {
		// One request from the middle of the first round, under load.
		id := workflows.RequestWorkflowID(middle)
		fmt.Fprintf(out, "\nthe history of %s and its task, in ms since each workflow started:\n", id)
		if err := printTimeline(ctx, tc, id, out); err != nil {
			return err
		}
	}
	return nil
}

// equivalent runs one equivalent baseline workflow, as ESM's submit starts a request (with
// update-with-start, timed), and waits for it to finish.
func equivalent(ctx context.Context, bc client.Client, id string, in bench.EquivalentInput, uws *lats) error {
	start := time.Now()
	op := bc.NewWithStartWorkflowOperation(client.StartWorkflowOptions{ID: id, TaskQueue: bench.TaskQueue,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING}, bench.Equivalent, in)
	h, err := bc.UpdateWithStartWorkflow(ctx, client.UpdateWithStartWorkflowOptions{StartWorkflowOperation: op,
		UpdateOptions: client.UpdateWorkflowOptions{UpdateName: bench.SubmitUpdate, WaitForStage: client.WorkflowUpdateStageCompleted}})
	if err == nil {
		err = h.Get(ctx, nil)
	}
	uws.add(time.Since(start))
	if err != nil {
		return err
	}
	run, err := op.Get(ctx)
	if err == nil {
		err = bc.GetWorkflow(ctx, run.GetID(), run.GetRunID()).Get(ctx, nil)
	}
	return err
}

// describe says what an equivalent baseline does.
func describe(in bench.EquivalentInput) string {
	s := fmt.Sprintf("%d activities, %d local", in.Activities, in.LocalActivities)
	for _, c := range in.Children {
		s += "; a child: " + describe(c)
	}
	return s
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

type result struct {
	rate   float64
	errors int
	cpu    cpuUse // spent during the phase
	calls  int
}

// phase runs n calls of fn at concurrency c and returns calls per second.
func phase(n, c int, fn func(i int) error) result {
	var wg sync.WaitGroup
	var mu sync.Mutex
	errs := 0
	next := make(chan int)
	cpu0 := cpuNow()
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
	return result{rate: float64(n) / time.Since(start).Seconds(), errors: errs, cpu: cpuNow().sub(cpu0), calls: n}
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

// statusOf reads a request's status; with wait (seconds), an open request's once it closes or
// the wait runs out.
func statusOf(base, token, id string, wait int) (string, error) {
	url := base + "/v1/requests/" + id
	if wait > 0 {
		url += fmt.Sprintf("?wait=%d", wait)
	}
	_, st, err := call("GET", url, token, "", "")
	s, _ := st["status"].(string)
	return s, err
}

// submitAndWait submits a bench request, gets it once while it runs, and waits until it
// resolves; it returns the request's id and the times of the submit and of the gets. It waits as
// a client that wants the outcome would, with a get that long-polls (wait=30), unless every is
// set: then it gets the request every so often instead, each get a Query of the workflow, and
// each one timed.
func submitAndWait(base, token, key string, every time.Duration) (string, time.Duration, []time.Duration, error) {
	start := time.Now()
	id, err := submit(base, token, "bench-auto", key)
	submitted := time.Since(start)
	if err != nil {
		return id, submitted, nil, err
	}
	var gets []time.Duration
	for k := 0; ; k++ {
		wait := 0
		if k > 0 && every == 0 {
			wait = 30
		}
		g := time.Now()
		s, err := statusOf(base, token, id, wait)
		if wait == 0 {
			gets = append(gets, time.Since(g))
		}
		switch {
		case err != nil:
			return id, submitted, gets, err
		case s == catalog.StatusResolved:
			return id, submitted, gets, nil
		case catalog.Terminal(s):
			return id, submitted, gets, fmt.Errorf("request ended %s", s)
		}
		time.Sleep(every)
	}
}

// waitResolved waits until a request has closed.
func waitResolved(base, token, id string) error {
	for deadline := time.Now().Add(2 * time.Minute); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		s, err := statusOf(base, token, id, 0)
		if err != nil {
			return err
		}
		if catalog.Terminal(s) {
			return nil
		}
	}
	return fmt.Errorf("%s did not finish", id)
}

// work is how much a workflow does, as its history shows, and its child workflows'.
type work struct {
	events, activities, locals int
	// calls are the local activities that call out for a task (Fulfilment.Call): what a child
	// workflow per task ran before revision 4; afterDecide, the local activities after the
	// first decide update was accepted.
	calls, afterDecide int
	// actions are the Temporal Cloud billable actions the history shows, by kind
	// (billableActions).
	actions  map[string]int
	children []*work
}

// input is the equivalent baseline of w: the same activities, local activities and children.
func (w work) input() bench.EquivalentInput {
	in := bench.EquivalentInput{Activities: w.activities, LocalActivities: w.locals}
	for _, c := range w.children {
		in.Children = append(in.Children, c.input())
	}
	return in
}

// withChildren is the equivalent baseline with a child workflow per task, as requests ran
// before revision 4 (issue 5's shape): a request that runs its tasks inside (no child) gets a
// child per task call, doing that call's share (one local activity).
func (w work) withChildren() bench.EquivalentInput {
	in := w.input()
	if len(w.children) > 0 || w.calls == 0 {
		return in
	}
	in.LocalActivities -= w.calls
	for range w.calls {
		in.Children = append(in.Children, bench.EquivalentInput{LocalActivities: 1})
	}
	return in
}

// totals sums w and its children.
type totals struct{ events, activities, locals, children int }

func (w work) total() totals {
	t := totals{events: w.events, activities: w.activities, locals: w.locals}
	for _, c := range w.children {
		ct := c.total()
		t.events += ct.events
		t.activities += ct.activities
		t.locals += ct.locals
		t.children += 1 + ct.children
	}
	return t
}

// allActions sums w's billable actions and its children's, by kind.
func (w work) allActions() map[string]int {
	out := map[string]int{}
	for k, v := range w.actions {
		out[k] += v
	}
	for _, c := range w.children {
		for k, v := range c.allActions() {
			out[k] += v
		}
	}
	return out
}

// actionKinds is the order in which billable actions are printed.
var actionKinds = []string{"start", "child start", "update", "search attributes", "activity", "activity retry",
	"markers", "local activity retry", "timer", "signal", "options updated"}

// describeActions prints a count of billable actions by kind: "5 (start 1, update 1, ...)".
func describeActions(a map[string]int) string {
	n := 0
	var parts []string
	for _, k := range actionKinds {
		if a[k] > 0 {
			n += a[k]
			parts = append(parts, fmt.Sprintf("%s %d", k, a[k]))
		}
	}
	return fmt.Sprintf("%d (%s)", n, strings.Join(parts, ", "))
}

// historyOf reads a workflow's history, and its child workflows', and counts their events, the
// activities and local activities they ran and the billable actions they cost. dc decodes the
// local activities' markers (ESM's payloads are encrypted).
func historyOf(ctx context.Context, tc client.Client, dc converter.DataConverter, workflowID string) (work, error) {
	root := &work{}
	of := map[string]*work{workflowID: root}
	marked := map[string]bool{} // a workflow's current workflow task recorded a marker already
	decided := map[string]bool{}
	err := walkHistory(ctx, tc, workflowID, func(id string, ev *historypb.HistoryEvent) {
		w := of[id]
		if w.actions == nil {
			w.actions = map[string]int{}
		}
		w.events++
		billableActions(ev, w.actions, marked[id])
		switch ev.GetEventType() {
		case enumspb.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
			marked[id] = false
		case enumspb.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
			w.activities++
		case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED:
			if ev.GetWorkflowExecutionUpdateAcceptedEventAttributes().GetAcceptedRequest().GetInput().GetName() == workflows.DecideUpdate {
				decided[id] = true
			}
		case enumspb.EVENT_TYPE_MARKER_RECORDED:
			marked[id] = true
			m := ev.GetMarkerRecordedEventAttributes()
			if m.GetMarkerName() == "LocalActivity" {
				w.locals++
				if decided[id] {
					w.afterDecide++
				}
				var data struct{ ActivityType string }
				if p, ok := m.GetDetails()["data"]; ok && dc.FromPayloads(p, &data) == nil && data.ActivityType == "Call" {
					w.calls++
				}
			}
		case enumspb.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_STARTED:
			child := &work{}
			of[childOf(ev)] = child
			w.children = append(w.children, child)
		}
	})
	return *root, err
}

// billableActions adds the Temporal Cloud billable actions one history event stands for to a,
// by the rules of https://docs.temporal.io/cloud/actions (docs/BENCHMARKS.md has the table):
// a workflow started (by a client, update-with-start, a parent or continue-as-new) is one; a
// child workflow's start two (the parent's intent, counted at its initiated event, and the
// start, at the child's started event); every accepted update one (a rejected one never reaches
// the history); every search attribute upsert one, except one that only sets
// TemporalChangeVersion (GetVersion's); every activity scheduled one and every retry one more
// (the started event's attempt); all the markers (local activities, versions, side effects)
// one workflow task records one together, and every local activity attempt after the first one
// more (the completed task's metering); a timer one; a signal received one; options updated
// one. Queries are actions too but leave nothing in a history: ESM's get of a running request
// is one.
func billableActions(ev *historypb.HistoryEvent, a map[string]int, taskMarked bool) {
	switch ev.GetEventType() {
	case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
		if ev.GetWorkflowExecutionStartedEventAttributes().GetParentWorkflowExecution() != nil {
			a["child start"]++
		} else {
			a["start"]++
		}
	case enumspb.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED:
		a["child start"]++
	case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED:
		a["update"]++
	case enumspb.EVENT_TYPE_UPSERT_WORKFLOW_SEARCH_ATTRIBUTES:
		fields := ev.GetUpsertWorkflowSearchAttributesEventAttributes().GetSearchAttributes().GetIndexedFields()
		if _, v := fields["TemporalChangeVersion"]; !v || len(fields) > 1 {
			a["search attributes"]++
		}
	case enumspb.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
		a["activity"]++
	case enumspb.EVENT_TYPE_ACTIVITY_TASK_STARTED:
		if n := ev.GetActivityTaskStartedEventAttributes().GetAttempt(); n > 1 {
			a["activity retry"] += int(n - 1)
		}
	case enumspb.EVENT_TYPE_MARKER_RECORDED:
		if !taskMarked {
			a["markers"]++
		}
	case enumspb.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
		a["local activity retry"] += int(ev.GetWorkflowTaskCompletedEventAttributes().GetMeteringMetadata().GetNonfirstLocalActivityExecutionAttempts())
	case enumspb.EVENT_TYPE_TIMER_STARTED:
		a["timer"]++
	case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
		a["signal"]++
	case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_OPTIONS_UPDATED:
		a["options updated"]++
	}
}

// walkHistory calls visit with each event of a workflow's history, and of each child workflow's
// right after the event that says it started.
func walkHistory(ctx context.Context, tc client.Client, workflowID string, visit func(workflowID string, ev *historypb.HistoryEvent)) error {
	it := tc.GetWorkflowHistory(ctx, workflowID, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			return err
		}
		visit(workflowID, ev)
		if ev.GetEventType() == enumspb.EVENT_TYPE_CHILD_WORKFLOW_EXECUTION_STARTED {
			if err := walkHistory(ctx, tc, childOf(ev), visit); err != nil {
				return err
			}
		}
	}
	return nil
}

// childOf is the workflow id of the child a ChildWorkflowExecutionStarted event names.
func childOf(ev *historypb.HistoryEvent) string {
	return ev.GetChildWorkflowExecutionStartedEventAttributes().GetWorkflowExecution().GetWorkflowId()
}

// pollersName says what esm bench's -pollers means.
func pollersName(n int) string {
	switch {
	case n == 0:
		return fmt.Sprint(worker.DefaultPollers)
	case n < 0:
		return "scaled by the SDK"
	}
	return fmt.Sprint(n)
}

// printTimeline prints a workflow's history, and its children's, with each event's time since
// its workflow started: where a request's time goes.
func printTimeline(ctx context.Context, tc client.Client, workflowID string, out io.Writer) error {
	start := map[string]time.Time{}
	return walkHistory(ctx, tc, workflowID, func(id string, ev *historypb.HistoryEvent) {
		at := ev.GetEventTime().AsTime()
		if _, ok := start[id]; !ok {
			start[id] = at
		}
		fmt.Fprintf(out, "  %-30s %3d %7.1f %s\n", id, ev.GetEventId(), float64(at.Sub(start[id]).Microseconds())/1000, ev.GetEventType())
	})
}
