package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/esmhq/esm/workflows"
	"go.temporal.io/sdk/client"
)

// A malformed ESM_SMTP_URL stops esm api, worker and dev at start, naming the variable.
func TestMalformedSMTPURLStops(t *testing.T) {
	for _, c := range []struct{ cmd, url, says string }{
		{"api", "http://mail.example.org", `ESM_SMTP_URL: scheme "http": want smtp:// or smtps://`},
		{"worker", "smtp://mail.example.org:99999", `ESM_SMTP_URL: port "99999": want 1 to 65535`},
		{"dev", "smtp://mail.example.org?starttls=maybe", `ESM_SMTP_URL: starttls="maybe": want mandatory, opportunistic or none`},
	} {
		cmd := exec.Command(os.Args[0], c.cmd)
		cmd.Dir = t.TempDir()
		cmd.Env = append(os.Environ(), "ESM_TEST_MAIN=1", "ESM_SMTP_URL="+c.url, "ESM_JWT_SECRET=0123456789abcdef0123", "ESM_PAYLOAD_KEYS=")
		out, err := cmd.CombinedOutput()
		var exit *exec.ExitError
		if !strings.Contains(string(out), c.says) || err == nil || !errorsAs(err, &exit) || exit.ExitCode() != 2 {
			t.Errorf("esm %s with ESM_SMTP_URL=%s: exit %v, output %q; want exit 2 saying %q", c.cmd, c.url, err, out, c.says)
		}
	}
}

func errorsAs(err error, exit **exec.ExitError) bool {
	e, ok := err.(*exec.ExitError)
	*exit = e
	return ok
}

// `make run` catches mail: esm dev starts bin/mailpit, prints its address after the portal
// and the UI, and Bob's approval mail for Alice's laptop is there, linking to the portal.
func TestDevCatchesMail(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Temporal dev server")
	}
	root, _ := filepath.Abs(filepath.Join("..", ".."))
	for _, b := range []string{"temporal", "mailpit"} {
		if _, err := os.Stat(filepath.Join(root, "bin", b)); err != nil {
			t.Fatalf("bin/%s is missing: run make build (make test does)", b)
		}
	}
	env := []string{
		"ESM_TEMPORAL_BIN=" + filepath.Join(root, "bin", "temporal"),
		"ESM_MAILPIT_BIN=" + filepath.Join(root, "bin", "mailpit"),
		"ESM_CATALOG=" + filepath.Join(root, "examples"),
		"TEMPORAL_ADDRESS=127.0.0.1:" + freePort(t),
		"ESM_UI_PORT=" + freePort(t),
		"ESM_ADDR=127.0.0.1:" + freePort(t),
		"ESM_HOOKS_ADDR=127.0.0.1:" + freePort(t),
		"ESM_HOOKS_URL=", "ESM_SMTP_URL=", "ESM_PORTAL_URL=",
		"DATABASE_URL=",
	}
	p := startDev(t, t.TempDir(), env)
	defer p.stop(t)
	// esm dev's worker created the digest schedule at start (docs/NOTIFICATIONS.md).
	var temporalAddr string
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "TEMPORAL_ADDRESS="); ok {
			temporalAddr = v
		}
	}
	tc, err := client.Dial(client.Options{HostPort: temporalAddr, Logger: quietLogger{}})
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		_, err := tc.ScheduleClient().GetHandle(t.Context(), workflows.DigestScheduleID).Describe(t.Context())
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("esm dev made no digest schedule: %v\n%s", err, p.out)
		}
	}
	mail := p.mail
	if mail == "" || p.portal == "" || p.ui == "" {
		t.Fatalf("the banner prints no Mail line beside the portal (%q) and the UI (%q):\n%s", p.portal, p.ui, p.out)
	}
	sub := p.call(t, "POST", "/v1/requests", "alice", `{"service":"laptop","form":{"model":"standard-14","reason":"the old one is broken"}}`)
	id := sub["id"].(string)
	full := mailTo(t, mail, "bob@example.com", id)
	if !strings.Contains(full.Text, p.portal+"requests/"+id) && !strings.Contains(full.Text, strings.TrimSuffix(p.portal, "/")+"/requests/"+id) {
		t.Fatalf("Bob's mail does not link to %s in the portal (%s):\n%s", id, p.portal, full.Text)
	}
}

// TestMailPortal: ESM_PORTAL_URL is ESM's public scheme and host (as the portal's sign-in reads
// it), and mails link under it + /portal; a value already ending in /portal keeps one /portal.
func TestMailPortal(t *testing.T) {
	for in, want := range map[string]string{
		"":                                "http://127.0.0.1:8080/portal",
		"https://esm.example.com":         "https://esm.example.com/portal",
		"https://esm.example.com/":        "https://esm.example.com/portal",
		"https://esm.example.com/portal":  "https://esm.example.com/portal",
		"https://esm.example.com/portal/": "https://esm.example.com/portal",
	} {
		t.Setenv("ESM_PORTAL_URL", in)
		if got := mailPortal("127.0.0.1:8080"); got != want {
			t.Errorf("ESM_PORTAL_URL %q: mails link under %q, want %q", in, got, want)
		}
	}
}
