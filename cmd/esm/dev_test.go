package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The test binary doubles as esm: with ESM_TEST_MAIN set it runs main, so the test drives the
// real command as a separate process, signals included.
func TestMain(m *testing.M) {
	if os.Getenv("ESM_TEST_MAIN") == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	_, port, _ := net.SplitHostPort(l.Addr().String())
	return port
}

// devProcess is one `esm dev` run.
type devProcess struct {
	cmd    *exec.Cmd
	tokens map[string]string
	api    string
	portal string // the portal's address, printed first
	ui     string
	mail   string // the mail catcher's UI, when esm dev started one
	out    *bytes.Buffer
}

// startDev runs `esm dev` in dir and waits for its banner.
func startDev(t *testing.T, dir string, env []string) *devProcess {
	t.Helper()
	cmd := exec.Command(os.Args[0], "dev")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), append(env, "ESM_TEST_MAIN=1")...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	out := &bytes.Buffer{}
	cmd.Stderr = out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &devProcess{cmd: cmd, tokens: map[string]string{}, out: out}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	ready := make(chan error, 1)
	go func() {
		tokenLine := regexp.MustCompile(`export ([A-Z]+)_TOKEN=(\S+)`)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		sent := false
		for sc.Scan() {
			line := sc.Text()
			fmt.Fprintln(out, line)
			if m := tokenLine.FindStringSubmatch(line); m != nil {
				p.tokens[strings.ToLower(m[1])] = m[2]
			}
			if f := strings.Fields(line); len(f) >= 2 && f[0] == "Portal" {
				p.portal = f[1]
			}
			if f := strings.Fields(line); len(f) >= 2 && f[0] == "Mail" {
				p.mail = f[1]
			}
			if f := strings.Fields(line); len(f) >= 2 && f[0] == "API" {
				p.api = f[1]
			}
			if f := strings.Fields(line); len(f) >= 3 && f[0] == "Temporal" && f[1] == "UI" {
				p.ui = f[2]
			}
			if strings.Contains(line, "Ctrl-C stops everything") && !sent {
				sent = true
				ready <- nil
			}
		}
		if !sent {
			ready <- fmt.Errorf("esm dev exited before its banner")
		}
		_, _ = io.Copy(io.Discard, stdout)
	}()
	select {
	case err := <-ready:
		if err != nil {
			t.Fatalf("%v:\n%s", err, out)
		}
	case <-time.After(2 * time.Minute):
		t.Fatalf("esm dev did not come up in 2 minutes:\n%s", out)
	}
	return p
}

// stop sends Ctrl-C and waits for a clean exit.
func (p *devProcess) stop(t *testing.T) {
	t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGINT)
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("esm dev exited with %v:\n%s", err, p.out)
		}
	case <-time.After(time.Minute):
		t.Fatalf("esm dev did not stop within a minute of Ctrl-C:\n%s", p.out)
	}
}

func (p *devProcess) call(t *testing.T, method, path, who string, body string) map[string]any {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, _ := http.NewRequest(method, p.api+path, rd)
	req.Header.Set("Authorization", "Bearer "+p.tokens[who])
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	raw, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(raw, &out)
	if resp.StatusCode >= 300 {
		t.Fatalf("%s %s as %s: %d %s", method, path, who, resp.StatusCode, raw)
	}
	return out
}

// TestDevRestart is `make run`, stopped and started again: the banner gives API, UI and tokens;
// a request submitted before the restart is approved and completed after it; the Temporal UI
// lists it as request/REQ-..., completed.
func TestDevRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Temporal dev server")
	}
	root, _ := filepath.Abs(filepath.Join("..", ".."))
	bin := filepath.Join(root, "bin", "temporal")
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("bin/temporal is missing: run make build (make test does)")
	}
	dir := t.TempDir()
	env := []string{
		"ESM_TEMPORAL_BIN=" + bin,
		"ESM_CATALOG=" + filepath.Join(root, "examples"),
		"TEMPORAL_ADDRESS=127.0.0.1:" + freePort(t),
		"ESM_UI_PORT=" + freePort(t),
		"ESM_ADDR=127.0.0.1:" + freePort(t),
		"ESM_HOOKS_ADDR=127.0.0.1:" + freePort(t),
		"ESM_HOOKS_URL=",
		"DATABASE_URL=", // the embedded SQLite database under .data/
	}

	p := startDev(t, dir, env)
	for _, who := range []string{"alice", "bob", "dave"} {
		if p.tokens[who] == "" {
			t.Fatalf("the banner has no token for %s:\n%s", who, p.out)
		}
	}
	sub := p.call(t, "POST", "/v1/requests", "alice", `{"service":"laptop","form":{"model":"standard-14","reason":"the old one is broken"}}`)
	id := sub["id"].(string)
	p.stop(t)
	if _, err := os.Stat(filepath.Join(dir, ".data", "esm.db")); err != nil {
		t.Fatalf("no database under .data/: %v", err)
	}

	// Started again, with its calls to Temporal uncompressed (ESM_TEMPORAL_GZIP=off).
	p = startDev(t, dir, append(env, "ESM_TEMPORAL_GZIP=off"))
	if got := p.call(t, "GET", "/v1/requests/"+id, "alice", "")["status"]; got != "pending_approval" {
		t.Fatalf("after restart the request is %v", got)
	}
	p.call(t, "POST", "/v1/requests/"+id+"/decision", "bob", `{"decision":"approve","comment":"ok"}`)
	done := p.call(t, "POST", "/v1/tasks/"+id+".prepare/complete", "dave", `{"outputs":{"asset_tag":"LT-7"}}`)
	if done["status"] != "resolved" {
		t.Fatalf("complete: %v", done)
	}

	// The Temporal UI's own API lists the workflow by its readable id, completed.
	u, err := url.Parse(p.ui)
	if err != nil {
		t.Fatalf("UI address %q: %v", p.ui, err)
	}
	q := url.Values{"query": {fmt.Sprintf(`WorkflowId = "request/%s"`, id)}}
	var list struct {
		Executions []struct {
			Execution struct{ WorkflowID string } `json:"execution"`
			Status    string                      `json:"status"`
		} `json:"executions"`
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(fmt.Sprintf("http://%s/api/v1/namespaces/default/workflows?%s", u.Host, q.Encode()))
		if err == nil {
			_ = json.NewDecoder(resp.Body).Decode(&list)
			resp.Body.Close()
		}
		if len(list.Executions) == 1 && list.Executions[0].Status == "WORKFLOW_EXECUTION_STATUS_COMPLETED" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the UI does not list request/%s as completed: %+v (err %v)", id, list, err)
		}
		time.Sleep(500 * time.Millisecond)
	}
	if got := list.Executions[0].Execution.WorkflowID; got != "request/"+id {
		t.Errorf("UI lists %q", got)
	}
	p.stop(t)
}
