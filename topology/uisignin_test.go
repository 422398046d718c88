//go:build topology

package topology_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/esmhq/esm/topology"
)

// TestTopologyUISignIn is issue 20's Temporal UI inside the topology: the UI server
// (temporal-ui) signs in at the topology's identity provider (idp) and decodes payloads with
// esm-api-https's /codec, passing the signed-in person's access token (passAccessToken; the
// API takes the idp's tokens through ESM_JWKS). Alice asks for a laptop through esm-api-1 with
// an `esm token` (HS256: the same APIs take ESM's own tokens too). In headless chromium, which
// trusts esm-api-https's certificate (its public key only), oscar (an operator) signs in through
// the idp's form, opens the request's workflow and reads the form's reason decoded; alice (no
// operator) signs in, and the codec refuses her: the reason stays encoded and the UI shows the
// codec's error. Screenshots go to test-artifacts/topology-ui-*.png.
func TestTopologyUISignIn(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the production topology and a browser")
	}
	r := root(t)
	needBinaries(t, r)
	if _, err := os.Stat(filepath.Join(r, "bin", "temporal-ui-server")); err != nil {
		t.Fatal("bin/temporal-ui-server is missing: make bin/temporal-ui-server (make test-topology builds it)")
	}
	bin := chromium(t)
	artifacts := filepath.Join(r, "test-artifacts")
	_ = os.MkdirAll(artifacts, 0o755)

	spec, err := topology.Plan(topology.Options{Root: r, Data: t.TempDir(), APIs: 1, Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	topo, err := topology.Start(context.Background(), spec, &log)
	if err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	defer topo.Close()

	// Alice's request, through the plain API with ESM's own token.
	api, _ := spec.Process(topology.APIName(1))
	cmd := exec.Command(filepath.Join(r, "bin", "esm"), "token", "alice")
	cmd.Env = []string{"DATABASE_URL=" + api.Env["DATABASE_URL"], "ESM_JWT_SECRET=" + api.Env["ESM_JWT_SECRET"], "ESM_PAYLOAD_KEYS=" + api.Env["ESM_PAYLOAD_KEYS"]}
	tok, err := cmd.Output()
	if err != nil {
		t.Fatalf("esm token alice: %v", err)
	}
	const reason = "my battery lasts twenty minutes"
	body, _ := json.Marshal(map[string]any{"service": "laptop", "form": map[string]any{"model": "standard-14", "reason": reason}})
	req, _ := http.NewRequest(http.MethodPost, "http://"+topo.Addr(topology.APIName(1), "http")+"/v1/requests", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(tok)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", fmt.Sprintf("topology-ui-%d", time.Now().UnixNano()))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var created struct{ ID string }
	if resp.StatusCode != http.StatusCreated || json.Unmarshal(b, &created) != nil || created.ID == "" {
		t.Fatalf("POST /v1/requests: %d %s", resp.StatusCode, b)
	}

	// The codec's certificate: the browser trusts its public key, and nothing else it would not.
	pair, err := tls.LoadX509KeyPair(spec.TLS.Cert, spec.TLS.Key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(pair.Certificate[0])
	spki := sha256.Sum256(leaf.RawSubjectPublicKeyInfo)

	ui := "http://" + topo.Addr(topology.TemporalUI, "http")
	page := ui + "/namespaces/default/workflows/" + url.PathEscape("request/"+created.ID)
	for _, who := range []struct {
		person   string
		operator bool
	}{{"oscar", true}, {"alice", false}} {
		t.Run(who.person, func(t *testing.T) {
			ctx := browser(t, bin, chromedp.Flag("ignore-certificate-errors-spki-list", base64.StdEncoding.EncodeToString(spki[:])))
			ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
			defer cancel()
			if err := chromedp.Do(ctx, chromedp.Navigate(ui+"/auth/sso")); err != nil {
				t.Fatalf("open the UI's sign-in: %v", err)
			}
			if _, missing := waitText(ctx, 30*time.Second, "ESM development sign-in"); missing != "" {
				loc, _ := chromedp.Run(ctx, chromedp.Location())
				t.Fatalf("the UI's sign-in did not lead to the idp's form (at %s)", loc)
			}
			screenshot(t, ctx, filepath.Join(artifacts, "topology-ui-signin-idp.png"))
			if err := chromedp.Do(ctx, chromedp.SendKeys("#username", who.person), chromedp.SendKeys("#password", who.person),
				chromedp.Click("#sign-in")); err != nil {
				t.Fatalf("sign in at the idp: %v", err)
			}
			time.Sleep(2 * time.Second) // the callback sets the UI's user cookies and redirects
			if err := chromedp.Do(ctx, chromedp.Navigate(page)); err != nil {
				t.Fatalf("open %s: %v", page, err)
			}
			if who.operator {
				text, missing := waitText(ctx, time.Minute, created.ID+": Laptop for Alice Chen")
				if missing == "" {
					text, missing = scrollUntil(ctx, reason)
				}
				screenshot(t, ctx, filepath.Join(artifacts, "topology-ui-operator-decoded.png"))
				if missing != "" {
					loc, _ := chromedp.Run(ctx, chromedp.Location())
					t.Fatalf("signed in as %s, the request's page (%s) does not show %q decoded:\n%s", who.person, loc, missing, text)
				}
				return
			}
			// Not an operator: the workflow shows, the UI says the codec refused, and neither
			// the summary nor the form (payloads both) is decoded.
			text, missing := waitText(ctx, time.Minute, "request/"+created.ID, "only operators see decoded payloads") // deploy/temporal-ui's codec error
			if missing == "" {
				time.Sleep(3 * time.Second)
				text, _ = scrollUntil(ctx, reason)
			}
			screenshot(t, ctx, filepath.Join(artifacts, "topology-ui-non-operator-refused.png"))
			if missing != "" {
				t.Fatalf("signed in as %s (no operator), the request's page does not show %q:\n%s", who.person, missing, text)
			}
			for _, secret := range []string{reason, "Laptop for Alice Chen"} {
				if strings.Contains(text, secret) {
					t.Errorf("signed in as %s (no operator), the UI shows %q decoded:\n%s", who.person, secret, text)
				}
			}
		})
	}
	if t.Failed() {
		for _, name := range []string{topology.IDP, topology.APIHTTPS, topology.TemporalUI} {
			if b, err := os.ReadFile(topo.LogPath(name)); err == nil {
				t.Logf("%s's log:\n%s", name, tail(b, 4000))
			}
		}
	}
}

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

// chromium finds Debian's chromium; CI sets ESM_REQUIRE_BROWSER=1 and there the test may not
// skip.
func chromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("ESM_REQUIRE_BROWSER") != "" {
		t.Fatal("chromium is not installed (apt-get install chromium)")
	}
	t.Skip("chromium is not installed")
	return ""
}

// browser starts headless chromium with a profile of its own; extra adds to its flags.
func browser(t *testing.T, bin string, extra ...chromedp.ExecAllocatorOption) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(bin), chromedp.NoSandbox,
		chromedp.DisableGPU, chromedp.Flag("disable-component-update", true),
		chromedp.WindowSize(1500, 1100), chromedp.UserDataDir(t.TempDir()))
	opts = append(opts, extra...)
	actx, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	ctx, cancel2 := chromedp.NewContext(actx)
	t.Cleanup(cancel2)
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// waitText waits until the page's text contains every one of want (or timeout passes) and
// returns the text and the first one missing ("" when all showed).
func waitText(ctx context.Context, timeout time.Duration, want ...string) (text, missing string) {
	for deadline := time.Now().Add(timeout); ; {
		text, _ = chromedp.Run(ctx, chromedp.Text(chromedp.CSS("body")))
		missing = ""
		for _, w := range want {
			if !strings.Contains(text, w) {
				missing = w
				break
			}
		}
		if missing == "" || time.Now().After(deadline) || ctx.Err() != nil {
			return text, missing
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func screenshot(t *testing.T, ctx context.Context, path string) {
	t.Helper()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Logf("screenshot %s: %v", path, err)
		return
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Logf("screenshot %s: %v", path, err)
	}
}

// scrollUntil scrolls the UI's code boxes (CodeMirror editors render only the lines in view)
// until the page's text contains want; it returns the text, and want if it never showed.
func scrollUntil(ctx context.Context, want string) (string, string) {
	const scroll = `(() => {
		let moved = false;
		for (const box of document.querySelectorAll(".cm-scroller")) {
			const top = box.scrollTop;
			box.scrollTop += box.clientHeight * 0.7;
			moved = moved || box.scrollTop !== top;
		}
		return moved;
	})()`
	var text string
	for range 200 {
		if text, _ = chromedp.Run(ctx, chromedp.Text(chromedp.CSS("body"))); strings.Contains(text, want) {
			_, _ = chromedp.Run(ctx, chromedp.Evaluate[bool](fmt.Sprintf(`(() => {
				const w = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
				while (w.nextNode()) {
					if (w.currentNode.textContent.includes(%q)) {
						w.currentNode.parentElement.scrollIntoView({block: "center"});
						return true;
					}
				}
				return false;
			})()`, want)))
			return text, ""
		}
		if ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](scroll)); err != nil || !ok {
			return text, want
		}
		time.Sleep(100 * time.Millisecond)
	}
	return text, want
}
