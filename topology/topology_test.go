//go:build topology

package topology_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/esmhq/esm/topology"
)

// root is the repository root, where bin/ is.
func root(t *testing.T) string {
	r, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// needBinaries skips (fails in CI: CI=true) when what make topology builds is missing; the
// test builds nothing itself.
func needBinaries(t *testing.T, r string) {
	for _, b := range []string{"bin/esm", "bin/temporal-server", "bin/temporal-sql-tool", "bin/temporal-ui-server"} {
		if _, err := os.Stat(filepath.Join(r, b)); err != nil {
			msg := fmt.Sprintf("%s is missing: run make bin/esm bin/temporal-server bin/temporal-sql-tool bin/temporal-ui-server (make test-topology does)", b)
			if os.Getenv("CI") != "" {
				t.Fatal(msg)
			}
			t.Skip(msg)
		}
	}
}

// TestTopology starts the whole topology (its own Postgres clusters, the Temporal server on
// Postgres, the setup steps, two APIs, two workers), then through each API Alice asks for a
// software licence, Bob approves it through the other API, and the request resolves through the
// workers (the licence is assigned by an automated task at the hooks process). Then a worker is
// killed with SIGKILL and started again, ESM's database is stopped (the API's /readyz says 503)
// and started, the Temporal server is restarted, a request resolves after each, and the
// topology closed leaves nothing running.
func TestTopology(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the production topology")
	}
	r := root(t)
	needBinaries(t, r)
	spec, err := topology.Plan(topology.Options{Root: r, Data: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var log bytes.Buffer
	topo, err := topology.Start(ctx, spec, &log)
	if err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	closed := false
	defer func() {
		if !closed {
			topo.Close()
		}
	}()

	token := func(person string) string {
		api, _ := spec.Process(topology.APIName(1))
		cmd := exec.Command(filepath.Join(r, "bin", "esm"), "token", person)
		cmd.Env = []string{"DATABASE_URL=" + api.Env["DATABASE_URL"], "ESM_JWT_SECRET=" + api.Env["ESM_JWT_SECRET"], "ESM_PAYLOAD_KEYS=" + api.Env["ESM_PAYLOAD_KEYS"]}
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("esm token %s: %v", person, err)
		}
		return strings.TrimSpace(string(out))
	}
	alice, bob := token("alice"), token("bob")
	call := func(api, method, path, tok string, body any, want int) map[string]any {
		t.Helper()
		var rd io.Reader
		if body != nil {
			b, _ := json.Marshal(body)
			rd = bytes.NewReader(b)
		}
		req, _ := http.NewRequest(method, "http://"+topo.Addr(api, "http")+path, rd)
		req.Header.Set("Authorization", "Bearer "+tok)
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Idempotency-Key", fmt.Sprintf("topology-%s-%d", api, time.Now().UnixNano()))
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s %s on %s: %v", method, path, api, err)
		}
		defer resp.Body.Close()
		var out map[string]any
		b, _ := io.ReadAll(resp.Body)
		_ = json.Unmarshal(b, &out)
		if resp.StatusCode != want {
			t.Fatalf("%s %s on %s: %d, want %d: %s", method, path, api, resp.StatusCode, want, b)
		}
		return out
	}
	resolve := func(submitVia, approveVia string) {
		t.Helper()
		sub := call(submitVia, http.MethodPost, "/v1/requests", alice,
			map[string]any{"service": "software-licence", "form": map[string]any{"product": "ide-pro"}}, http.StatusCreated)
		id, _ := sub["id"].(string)
		if id == "" {
			t.Fatalf("no id in %v", sub)
		}
		call(approveVia, http.MethodPost, "/v1/requests/"+id+"/decision", bob, map[string]any{"decision": "approve", "comment": "ok"}, http.StatusOK)
		deadline := time.Now().Add(90 * time.Second)
		for {
			got := call(submitVia, http.MethodGet, "/v1/requests/"+id, alice, nil, http.StatusOK)
			if got["status"] == "resolved" {
				t.Logf("%s: submitted through %s, approved through %s, resolved", id, submitVia, approveVia)
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s not resolved in 90s: %v", id, got)
			}
			time.Sleep(500 * time.Millisecond)
		}
	}
	resolve(topology.APIName(1), topology.APIName(2))
	resolve(topology.APIName(2), topology.APIName(1))

	// A worker killed with SIGKILL is down until started again, then serves again.
	if err := topo.Kill(topology.WorkerName(1)); err != nil {
		t.Fatal(err)
	}
	if topo.Running(topology.WorkerName(1)) {
		t.Fatal("worker 1 still running after Kill")
	}
	if err := topo.StartProcess(ctx, topology.WorkerName(1)); err != nil {
		t.Fatal(err)
	}
	// ESM's database stopped: the API says it is not ready; started again: ready.
	if err := topo.Stop(topology.PGESM); err != nil {
		t.Fatal(err)
	}
	if err := topo.Healthy(ctx, topology.APIName(1)); err == nil || !strings.Contains(err.Error(), "503") {
		t.Errorf("/readyz with ESM's database stopped: %v, want a 503", err)
	}
	if err := topo.Healthy(ctx, topology.Temporal); err != nil {
		t.Errorf("Temporal with ESM's database stopped: %v", err)
	}
	if err := topo.StartProcess(ctx, topology.PGESM); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for topo.Healthy(ctx, topology.APIName(1)) != nil {
		if time.Now().After(deadline) {
			t.Fatalf("API not ready again after ESM's database came back: %v", topo.Healthy(ctx, topology.APIName(1)))
		}
		time.Sleep(250 * time.Millisecond)
	}
	resolve(topology.APIName(1), topology.APIName(2))

	// The Temporal server restarted (stopped, started on the same ports and database): the
	// workers and APIs reconnect by themselves.
	began := time.Now()
	if err := topo.Restart(ctx, topology.Temporal); err != nil {
		t.Fatal(err)
	}
	t.Logf("Temporal restarted in %s", time.Since(began).Round(time.Millisecond))
	resolve(topology.APIName(2), topology.APIName(1))

	if err := topo.Close(); err != nil {
		t.Fatal(err)
	}
	closed = true
	for _, name := range topo.Names() {
		if topo.Running(name) {
			t.Errorf("%s still running after Close", name)
		}
	}
	t.Logf("runner's log:\n%s", log.String())
}
