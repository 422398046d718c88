package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestUISignInCodec is issue 20's sign-in to the Temporal UI: esm dev (Temporal, the worker, the
// example catalog), `esm idp` over its directory, a second `esm api` serving HTTPS that accepts
// the idp's tokens (ESM_JWKS), and bin/temporal-ui-server with deploy/temporal-ui's config (OIDC
// sign-in at the idp, the API's /codec with passAccessToken). In headless chromium, oscar (an
// operator) signs in through the idp's form and reads a request's form decoded; alice (no
// operator) signs in and the codec refuses her (403): the reason stays encoded and the UI shows
// the codec's error. Screenshots go to test-artifacts/.
func TestUISignInCodec(t *testing.T) {
	if testing.Short() {
		t.Skip("starts Temporal, ESM, an identity provider, the Temporal UI server and a browser")
	}
	bin := chromium(t)
	root, _ := filepath.Abs(filepath.Join("..", ".."))
	uiServer := filepath.Join(root, "bin", "temporal-ui-server")
	if _, err := os.Stat(uiServer); err != nil {
		t.Fatalf("bin/temporal-ui-server is missing: make bin/temporal-ui-server (make build does)")
	}
	artifacts := filepath.Join(root, "test-artifacts")
	_ = os.MkdirAll(artifacts, 0o755)

	dir := t.TempDir()
	temporalAddr := "127.0.0.1:" + freePort(t)
	p := startDev(t, dir, []string{
		"ESM_TEMPORAL_BIN=" + filepath.Join(root, "bin", "temporal"),
		"ESM_CATALOG=" + filepath.Join(root, "examples"),
		"TEMPORAL_ADDRESS=" + temporalAddr, "ESM_UI_PORT=" + freePort(t),
		"ESM_ADDR=127.0.0.1:" + freePort(t), "ESM_HOOKS_ADDR=127.0.0.1:" + freePort(t), "ESM_HOOKS_URL=",
		"ESM_UI_ORIGIN=", "ESM_PAYLOAD_KEYS=", "ESM_JWT_SECRET=", "DATABASE_URL=",
	})
	defer p.stop(t)
	const reason = "my battery lasts twenty minutes"
	id := p.call(t, "POST", "/v1/requests", "alice",
		`{"service":"laptop","form":{"model":"standard-14","reason":"`+reason+`"}}`)["id"].(string)

	db := filepath.Join(dir, ".data", "esm.db")
	idp := "http://127.0.0.1:" + freePort(t)
	uiPort := freePort(t)
	uiOrigin := "http://127.0.0.1:" + uiPort
	const uiSecret = "temporal-ui-dev-secret"
	spawn(t, "esm idp", os.Args[0], []string{"idp", "-addr", strings.TrimPrefix(idp, "http://"), "-ui", uiOrigin},
		"ESM_TEST_MAIN=1", "DATABASE_URL="+db, "ESM_IDP_UI_CLIENT_SECRET="+uiSecret, "ESM_JWT_AUDIENCE=esm")
	waitHTTP(t, idp+"/.well-known/openid-configuration")

	cert, key := selfSigned(t, dir)
	api := "https://127.0.0.1:" + freePort(t)
	spawn(t, "esm api", os.Args[0], []string{"api"}, "ESM_TEST_MAIN=1", "DATABASE_URL="+db,
		"TEMPORAL_ADDRESS="+temporalAddr, "ESM_ADDR="+strings.TrimPrefix(api, "https://"),
		"ESM_TLS_CERT="+cert, "ESM_TLS_KEY="+key, "ESM_PAYLOAD_KEYS="+DevPayloadKey, "ESM_JWT_SECRET=",
		"ESM_JWKS="+idp+"/keys", "ESM_JWT_ISSUER="+idp, "ESM_JWT_AUDIENCE=esm", "ESM_UI_ORIGIN="+uiOrigin,
		"ESM_SMTP_URL=")
	waitHTTP(t, api+"/healthz")

	spawn(t, "temporal-ui-server", uiServer, []string{"--root", filepath.Join(root, "deploy", "temporal-ui"), "--env", "esm", "start"},
		"TEMPORAL_ADDRESS="+temporalAddr, "TEMPORAL_UI_PORT="+uiPort, "ESM_UI_ORIGIN="+uiOrigin,
		"TEMPORAL_CSRF_COOKIE_INSECURE=true", "TEMPORAL_AUTH_PROVIDER_URL="+idp,
		"TEMPORAL_AUTH_CLIENT_SECRET="+uiSecret, "TEMPORAL_CODEC_ENDPOINT="+api+"/codec")
	waitHTTP(t, uiOrigin+"/")

	page := uiOrigin + "/namespaces/default/workflows/" + url.PathEscape("request/"+id)
	for _, who := range []struct {
		person   string
		operator bool
	}{{"oscar", true}, {"alice", false}} {
		t.Run(who.person, func(t *testing.T) {
			ctx := browser(t, bin, chromedp.Flag("ignore-certificate-errors", true))
			ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
			defer cancel()
			// The UI sends an unsigned-in browser to its login page, whose button goes to the idp.
			if err := chromedp.Do(ctx, chromedp.Navigate(uiOrigin+"/auth/sso")); err != nil {
				t.Fatalf("open the UI's sign-in: %v", err)
			}
			if _, missing := waitText(ctx, 30*time.Second, "ESM development sign-in"); missing != "" {
				loc, _ := chromedp.Run(ctx, chromedp.Location())
				t.Fatalf("the UI's sign-in did not lead to the idp's form (at %s)", loc)
			}
			screenshot(t, ctx, filepath.Join(artifacts, "ui-signin-idp.png"))
			if err := chromedp.Do(ctx, chromedp.SendKeys("#username", who.person), chromedp.SendKeys("#password", who.person),
				chromedp.Click("#sign-in")); err != nil {
				t.Fatalf("sign in at the idp: %v", err)
			}
			time.Sleep(2 * time.Second) // the callback sets the UI's user cookies and redirects
			if err := chromedp.Do(ctx, chromedp.Navigate(page)); err != nil {
				t.Fatalf("open %s: %v", page, err)
			}
			text, missing := waitText(ctx, time.Minute, id+": Laptop for Alice Chen")
			if who.operator {
				if missing == "" {
					text, missing = scrollUntil(ctx, reason)
				}
				screenshot(t, ctx, filepath.Join(artifacts, "ui-signin-operator-decoded.png"))
				if missing != "" {
					loc, _ := chromedp.Run(ctx, chromedp.Location())
					t.Fatalf("signed in as %s, the request's page (%s) does not show %q decoded:\n%s", who.person, loc, missing, text)
				}
				return
			}
			// Not an operator: the summary (search attributes, not payloads) shows, the form does
			// not, and the UI says the codec failed.
			time.Sleep(5 * time.Second)
			text, _ = scrollUntil(ctx, reason)
			screenshot(t, ctx, filepath.Join(artifacts, "ui-signin-non-operator-refused.png"))
			if strings.Contains(text, reason) {
				t.Fatalf("signed in as %s (no operator), the UI shows the form decoded:\n%s", who.person, text)
			}
			if !strings.Contains(text, "only operators see decoded payloads") { // the codec error banner (deploy/temporal-ui)
				t.Errorf("signed in as %s, the page does not say the codec refused:\n%s", who.person, text)
			}
		})
	}
}

// spawn starts a process for the test, its output kept for a failure, killed at the end.
func spawn(t *testing.T, name, bin string, args []string, env ...string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	out := &lockedBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("%s's output:\n%s", name, out.String())
		}
	})
}

// waitHTTP waits until u answers (any status), over TLS without checking the test's own cert.
func waitHTTP(t *testing.T, u string) {
	t.Helper()
	c := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if resp, err := c.Get(u); err == nil {
			resp.Body.Close()
			return
		}
	}
	t.Fatalf("%s did not answer within a minute", u)
}

// selfSigned writes a certificate and key for 127.0.0.1 into dir.
func selfSigned(t *testing.T, dir string) (cert, key string) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "esm test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"localhost"},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	kd, _ := x509.MarshalECPrivateKey(k)
	cert, key = filepath.Join(dir, "api.crt"), filepath.Join(dir, "api.key")
	if err := os.WriteFile(cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(key, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kd}), 0o600); err != nil {
		t.Fatal(err)
	}
	return cert, key
}
