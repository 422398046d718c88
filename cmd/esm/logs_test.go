package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// lockedBuffer is a log sink written by the child's stderr copier and read by the test.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestJSONLogs: with ESM_LOG_FORMAT=json every line the process logs is a JSON object: the API's,
// the worker's and the Temporal SDK's, and the notifier's (a submission notifies the approver),
// from `esm dev` start to Ctrl-C; and a configuration error is a JSON line too.
func TestJSONLogs(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Temporal dev server")
	}
	root, _ := filepath.Abs(filepath.Join("..", ".."))
	bin := filepath.Join(root, "bin", "temporal")
	if _, err := os.Stat(bin); err != nil {
		t.Fatalf("bin/temporal is missing: run make build (make test does)")
	}
	cmd := exec.Command(os.Args[0], "dev")
	cmd.Dir = t.TempDir()
	cmd.Env = append(os.Environ(), "ESM_TEST_MAIN=1", "ESM_LOG_FORMAT=json",
		"ESM_TEMPORAL_BIN="+bin,
		"ESM_CATALOG="+filepath.Join(root, "examples"),
		"TEMPORAL_ADDRESS=127.0.0.1:"+freePort(t),
		"ESM_UI_PORT="+freePort(t),
		"ESM_ADDR=127.0.0.1:"+freePort(t),
		"ESM_HOOKS_ADDR=127.0.0.1:"+freePort(t),
		"ESM_HOOKS_URL=",
		"DATABASE_URL=")
	logs := &lockedBuffer{}
	cmd.Stderr = logs
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	p := &devProcess{cmd: cmd, tokens: map[string]string{}, out: &bytes.Buffer{}}
	ready := make(chan bool, 1)
	go func() {
		tokenLine := regexp.MustCompile(`export ([A-Z]+)_TOKEN=(\S+)`)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			line := sc.Text()
			if m := tokenLine.FindStringSubmatch(line); m != nil {
				p.tokens[strings.ToLower(m[1])] = m[2]
			}
			if f := strings.Fields(line); len(f) >= 2 && f[0] == "API" {
				p.api = f[1]
			}
			if strings.Contains(line, "Ctrl-C stops everything") {
				ready <- true
			}
		}
		_, _ = io.Copy(io.Discard, stdout)
	}()
	select {
	case <-ready:
	case <-time.After(2 * time.Minute):
		t.Fatalf("esm dev did not come up:\n%s", logs)
	}
	p.call(t, "POST", "/v1/requests", "alice", `{"service":"laptop","form":{"model":"standard-14","reason":"the old one is broken"}}`)
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(logs.String(), `"msg":"notification"`) {
		if time.Now().After(deadline) {
			t.Fatalf("no notification was logged as JSON:\n%s", logs)
		}
		time.Sleep(100 * time.Millisecond)
	}
	_ = cmd.Process.Signal(syscall.SIGINT)
	_ = cmd.Wait()
	checkJSONLines(t, "esm dev", logs.String())

	// A configuration error, in the same format.
	bad := exec.Command(os.Args[0], "worker")
	bad.Env = append(os.Environ(), "ESM_TEST_MAIN=1", "ESM_LOG_FORMAT=json", "ESM_TEMPORAL_GZIP=maybe")
	out, _ := bad.CombinedOutput()
	if !strings.Contains(string(out), "ESM_TEMPORAL_GZIP") {
		t.Errorf("the configuration error is not reported: %s", out)
	}
	checkJSONLines(t, "a configuration error", string(out))
}

func checkJSONLines(t *testing.T, what, logs string) {
	t.Helper()
	n := 0
	for _, line := range strings.Split(strings.TrimSpace(logs), "\n") {
		var v map[string]any
		if err := json.Unmarshal([]byte(line), &v); err != nil {
			t.Errorf("%s: a log line is not JSON: %q", what, line)
			continue
		}
		n++
	}
	if n == 0 {
		t.Errorf("%s: no log lines", what)
	}
}
