package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/esmhq/esm/api"
	"github.com/esmhq/esm/catalog"
	"github.com/esmhq/esm/codec"
	"github.com/esmhq/esm/examples/hooks"
	"github.com/esmhq/esm/store"
	"github.com/esmhq/esm/store/storetest"
	"github.com/esmhq/esm/workflows"
	"go.temporal.io/sdk/client"
)

const crashCatalog = `
services:
  - key: auto-chain
    name: Automated chain
    department: it
    owner: oscar
    request: {form: {type: object}}
    fulfilment:
      tasks:
        - id: first
          name: First call
          group: it-service-desk
          kind: automated
          http: {method: POST, url: "${ESM_HOOKS_URL}/first", body: {request: "{{request.id}}"}}
        - id: second
          name: Second call
          group: it-service-desk
          kind: automated
          needs: [first]
          http: {method: POST, url: "${ESM_HOOKS_URL}/second", body: {after: "{{tasks.first.outputs.id}}"}}
`

// TestExactlyOnceThroughCrashes: 50 requests run through two automated tasks each while the
// worker process is killed (SIGKILL) and restarted again and again. Every request ends resolved,
// and the receiver, which counts deliveries per Idempotency-Key, applied every side effect once.
func TestExactlyOnceThroughCrashes(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Temporal dev server and kills workers")
	}
	ctx := context.Background()
	root, _ := filepath.Abs(filepath.Join("..", ".."))
	ds, err := startDevServer(ctx, filepath.Join(root, "bin", "temporal"), workflows.SearchAttributeFlags()...)
	if err != nil {
		t.Fatal(err)
	}
	defer ds.Stop()

	receiver := hooks.New()
	receiver.FailFirst = 1 // every call fails once first: retries everywhere
	hsrv := httptest.NewServer(receiver)
	defer hsrv.Close()
	t.Setenv("ESM_HOOKS_URL", hsrv.URL+"/hooks")

	dialect := storetest.Dialects()[len(storetest.Dialects())-1] // Postgres when there is one
	dbURL := storetest.URL(t, dialect)
	s, err := store.Open(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	extra := filepath.Join(t.TempDir(), "auto.yaml")
	if err := os.WriteFile(extra, []byte(crashCatalog), 0o644); err != nil {
		t.Fatal(err)
	}
	b, err := catalog.Load(filepath.Join(root, "examples"), extra)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.ApplyBundle(ctx, b, time.Now()); err != nil {
		t.Fatal(err)
	}
	keys := codec.NewKey("crash")
	pc, err := codec.Parse(keys)
	if err != nil {
		t.Fatal(err)
	}
	tc, err := client.Dial(client.Options{HostPort: ds.FrontendHostPort(), Logger: quietLogger{}, DataConverter: pc.DataConverter()})
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	secret := []byte("crash-test-secret-0123456789")
	srv := httptest.NewServer(api.New(api.Config{Store: s, Temporal: tc, JWTSecret: secret, RatePerSecond: -1,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}).Handler())
	defer srv.Close()
	token, _ := api.IssueToken(secret, "alice", time.Now(), time.Hour)

	var mu sync.Mutex
	var worker *exec.Cmd
	startWorker := func() {
		mu.Lock()
		defer mu.Unlock()
		worker = exec.Command(os.Args[0], "worker")
		worker.Env = append(os.Environ(), "ESM_TEST_MAIN=1", "DATABASE_URL="+dbURL, "TEMPORAL_ADDRESS="+ds.FrontendHostPort(),
			"ESM_LOG_FORMAT=json", "ESM_PAYLOAD_KEYS="+keys)
		worker.Stdout, worker.Stderr = io.Discard, io.Discard
		if err := worker.Start(); err != nil {
			t.Error(err)
		}
	}
	killWorker := func() {
		mu.Lock()
		defer mu.Unlock()
		_ = worker.Process.Signal(syscall.SIGKILL)
		_ = worker.Wait()
	}
	startWorker()
	defer killWorker()

	// The killer: SIGKILL the worker every 800ms while the requests run, then leave one up.
	kills := 0
	stopKilling := make(chan struct{})
	killerDone := make(chan struct{})
	go func() {
		defer close(killerDone)
		for kills < 8 {
			select {
			case <-stopKilling:
				return
			case <-time.After(800 * time.Millisecond):
			}
			killWorker()
			kills++
			time.Sleep(200 * time.Millisecond)
			startWorker()
		}
	}()

	const n = 50
	ids := make([]string, n)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 10)
	httpc := &http.Client{Timeout: 90 * time.Second}
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			// A client that retries with the same Idempotency-Key, as a real one would.
			for attempt := 0; attempt < 10 && ids[i] == ""; attempt++ {
				req, _ := http.NewRequest("POST", srv.URL+"/v1/requests", bytes.NewReader([]byte(`{"service":"auto-chain","form":{}}`)))
				req.Header.Set("Authorization", "Bearer "+token)
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Idempotency-Key", fmt.Sprintf("crash-%d", i))
				resp, err := httpc.Do(req)
				if err != nil {
					continue
				}
				var out map[string]any
				_ = json.NewDecoder(resp.Body).Decode(&out)
				resp.Body.Close()
				if resp.StatusCode < 300 {
					ids[i], _ = out["id"].(string)
				}
			}
		}()
	}
	wg.Wait()
	close(stopKilling)
	<-killerDone
	if kills < 5 {
		t.Fatalf("the worker was killed only %d times", kills)
	}
	for i, id := range ids {
		if id == "" {
			t.Fatalf("submission %d never got an answer", i)
		}
	}

	deadline := time.Now().Add(3 * time.Minute)
	for {
		rows, err := s.ListRequests(ctx, store.RequestFilter{Requester: "alice", Limit: 200})
		if err != nil {
			t.Fatal(err)
		}
		resolved := 0
		for _, r := range rows {
			if r.Status == catalog.StatusResolved {
				resolved++
			}
		}
		if len(rows) != n {
			t.Fatalf("%d requests for %d submissions", len(rows), n)
		}
		if resolved == n {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d resolved after the crashes", resolved, n)
		}
		time.Sleep(500 * time.Millisecond)
	}
	st := receiver.Stats()
	if st.Keys != 2*n {
		t.Errorf("%d idempotency keys, want %d", st.Keys, 2*n)
	}
	for key, applied := range st.Applied {
		if applied != 1 {
			t.Errorf("%s applied %d times", key, applied)
		}
	}
	t.Logf("%d kills; %d deliveries for %d side effects, each applied once", kills, st.Deliveries, st.Keys)
}
