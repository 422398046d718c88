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

	"github.com/esmhq/esm/internal/browsertest"
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
	bin := browsertest.Chromium(t)
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
			ctx := browsertest.Start(t, bin, chromedp.Flag("ignore-certificate-errors-spki-list", base64.StdEncoding.EncodeToString(spki[:])))
			ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
			defer cancel()
			if err := chromedp.Do(ctx, chromedp.Navigate(ui+"/auth/sso")); err != nil {
				t.Fatalf("open the UI's sign-in: %v", err)
			}
			if _, missing := browsertest.WaitText(ctx, 30*time.Second, "ESM development sign-in"); missing != "" {
				loc, _ := chromedp.Run(ctx, chromedp.Location())
				t.Fatalf("the UI's sign-in did not lead to the idp's form (at %s)", loc)
			}
			browsertest.Screenshot(t, ctx, filepath.Join(artifacts, "topology-ui-signin-idp.png"))
			if err := chromedp.Do(ctx, chromedp.SendKeys("#username", who.person), chromedp.SendKeys("#password", who.person),
				chromedp.Click("#sign-in")); err != nil {
				t.Fatalf("sign in at the idp: %v", err)
			}
			time.Sleep(2 * time.Second) // the callback sets the UI's user cookies and redirects
			if err := chromedp.Do(ctx, chromedp.Navigate(page)); err != nil {
				t.Fatalf("open %s: %v", page, err)
			}
			if who.operator {
				text, missing := browsertest.WaitText(ctx, time.Minute, created.ID+": Laptop for Alice Chen")
				if missing == "" {
					text, missing = browsertest.ScrollUntil(ctx, reason)
				}
				browsertest.Screenshot(t, ctx, filepath.Join(artifacts, "topology-ui-operator-decoded.png"))
				if missing != "" {
					loc, _ := chromedp.Run(ctx, chromedp.Location())
					t.Fatalf("signed in as %s, the request's page (%s) does not show %q decoded:\n%s", who.person, loc, missing, text)
				}
				return
			}
			// Not an operator: the workflow shows, the UI says the codec refused, and neither
			// the summary nor the form (payloads both) is decoded.
			text, missing := browsertest.WaitText(ctx, time.Minute, "request/"+created.ID, "only operators see decoded payloads") // deploy/temporal-ui's codec error
			if missing == "" {
				time.Sleep(3 * time.Second)
				text, _ = browsertest.ScrollUntil(ctx, reason)
			}
			browsertest.Screenshot(t, ctx, filepath.Join(artifacts, "topology-ui-non-operator-refused.png"))
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
