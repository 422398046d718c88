package web

// TestRequesterFlow runs the portal on a real ESM: a Temporal dev server (bin/temporal), a
// worker, a SQLite database with the example catalog, the desk; real HTTP through a cookie jar,
// as a browser without JavaScript would.

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/esmhq/esm/catalog"
	"github.com/esmhq/esm/codec"
	"github.com/esmhq/esm/desk"
	"github.com/esmhq/esm/examples/hooks"
	"github.com/esmhq/esm/files"
	"github.com/esmhq/esm/store/storetest"
	"github.com/esmhq/esm/worker"
	"github.com/esmhq/esm/workflows"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/testsuite"
)

// startESM starts a Temporal dev server, a worker and the portal on a fresh SQLite database with
// the example catalog; everything stops when the test ends. It answers the portal's base URL.
// opts change the portal's Config (a clock, say).
func startESM(t *testing.T, opts ...func(*Config)) string {
	t.Helper()
	return startESMOn(t, "sqlite", opts...)
}

// onEachDatabase runs test on a real ESM (startESMOn) on SQLite and, with DATABASE_URL, on
// Postgres, as subtests named by dialect; skipped under -short (it starts a Temporal dev server).
func onEachDatabase(t *testing.T, test func(t *testing.T, base string)) {
	t.Helper()
	if testing.Short() {
		t.Skip("starts a Temporal dev server")
	}
	for _, d := range storetest.Dialects() {
		t.Run(d, func(t *testing.T) { test(t, startESMOn(t, d)) })
	}
}

// startESMOn is startESM on a database of the dialect (storetest.Dialects).
func startESMOn(t *testing.T, dialect string, opts ...func(*Config)) string {
	t.Helper()
	bin, err := filepath.Abs(filepath.Join("..", "bin", "temporal"))
	if err == nil {
		_, err = os.Stat(bin)
	}
	if err != nil {
		t.Fatal("bin/temporal is missing: run `make build`")
	}
	ctx := context.Background()
	dev, err := testsuite.StartDevServer(ctx, testsuite.DevServerOptions{
		ExistingPath: bin, ClientOptions: &client.Options{Namespace: "default"}, LogLevel: "error",
		ExtraArgs: workflows.SearchAttributeFlags(), Stdout: io.Discard, Stderr: os.Stderr,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = dev.Stop() })
	hooksSrv := httptest.NewServer(hooks.New())
	t.Cleanup(hooksSrv.Close)
	t.Setenv("ESM_HOOKS_URL", hooksSrv.URL+"/hooks")
	t.Setenv("ESM_WEBHOOK_SECRET", "esm-dev-webhook-secret")
	s := storetest.Open(t, dialect)
	b, err := catalog.Load("../examples")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.ApplyBundle(ctx, b, time.Now()); err != nil {
		t.Fatal(err)
	}
	tc := dev.Client()
	w := worker.New(tc, s, worker.Options{})
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	// Files go to a local directory, encrypted, as `esm dev` keeps them.
	fsURL, err := files.DefaultURL(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	keys, err := codec.Parse(codec.NewKey("test"))
	if err != nil {
		t.Fatal(err)
	}
	fs, err := files.Open(ctx, fsURL, keys)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = fs.Close() })
	cfg := Config{Desk: desk.New(desk.Config{Store: s, Temporal: tc, Logger: log, Files: fs}), Directory: s,
		Secret: []byte("a test secret of 32 bytes or so!"), Dev: true, Logger: log}
	for _, o := range opts {
		o(&cfg)
	}
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(p.Handler())
	t.Cleanup(srv.Close)
	return srv.URL
}

// browser is a person's browser: a cookie jar, and every POST sent from the portal's origin.
type browser struct {
	t      *testing.T
	base   string
	client *http.Client
}

func newBrowser(t *testing.T, base string) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, base: base, client: &http.Client{Jar: jar}}
}

// do sends a request, with form (nil: none) as the portal's own forms send it; it answers the
// status and the body.
func (b *browser) do(method, path string, form url.Values) (int, string) {
	b.t.Helper()
	code, _, body := b.send(method, path, form, nil)
	return code, body
}

// send sends a request with form (nil: none), urlencoded, and header; it answers the status,
// the headers and the body.
func (b *browser) send(method, path string, form url.Values, header http.Header) (int, http.Header, string) {
	b.t.Helper()
	if form == nil {
		return b.sendBody(method, path, "", nil, header)
	}
	return b.sendBody(method, path, "application/x-www-form-urlencoded", strings.NewReader(form.Encode()), header)
}

// sendBody sends a request with header; a body (nil: none) of contentType goes from the
// portal's origin (Origin, Sec-Fetch-Site: same-origin), as a browser sends a form. It answers
// the status, the headers and the body.
func (b *browser) sendBody(method, path, contentType string, body io.Reader, header http.Header) (int, http.Header, string) {
	b.t.Helper()
	req, err := http.NewRequest(method, b.base+path, body)
	if err != nil {
		b.t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if body != nil {
		req.Header.Set("Content-Type", contentType)
		req.Header.Set("Origin", b.base)
		req.Header.Set("Sec-Fetch-Site", "same-origin")
	}
	resp, err := b.client.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(out)
}

func (b *browser) get(path string) string {
	b.t.Helper()
	code, body := b.do("GET", path, nil)
	if code != http.StatusOK {
		b.t.Fatalf("GET %s: %d\n%s", path, code, body)
	}
	return body
}

func (b *browser) signIn(who string) {
	b.t.Helper()
	if code, body := b.do("POST", Base+"/signin", url.Values{"person": {who}, "next": {Base + "/"}}); code != http.StatusOK {
		b.t.Fatalf("sign in as %s: %d\n%s", who, code, body)
	}
}

func mustContain(t *testing.T, page string, want ...string) {
	t.Helper()
	for _, w := range want {
		if !strings.Contains(page, w) {
			t.Fatalf("the page lacks %q:\n%s", w, page)
		}
	}
}

func hidden(t *testing.T, page, name string) string {
	t.Helper()
	m := regexp.MustCompile(`name="` + name + `" value="([^"]+)"`).FindStringSubmatch(page)
	if m == nil {
		t.Fatalf("no hidden %s in:\n%s", name, page)
	}
	return m[1]
}

func TestRequesterFlow(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Temporal dev server")
	}
	base := startESM(t)
	alice := newBrowser(t, base)

	// Signed out, the portal asks who you are.
	mustContain(t, alice.get(Base+"/"), "Sign in", "Alice Chen", "Bob Ruiz")
	alice.signIn("alice")
	mustContain(t, alice.get(Base+"/"), "Hello, Alice Chen", "You have no open requests")

	// The catalog, by department, with a search.
	page := alice.get(Base + "/catalog?q=laptop")
	mustContain(t, page, `<h2 id="d-it">IT</h2>`, `href="/portal/services/laptop"`, "matching “laptop”")
	if strings.Contains(page, "software-licence") {
		t.Fatal("the search did not narrow the catalog")
	}
	page = alice.get(Base + "/services/laptop")
	mustContain(t, page, "Standard and performance laptops", "Who may ask", `<select id="f-model" name="f.model" required`,
		`<textarea id="f-reason" name="f.reason"`, `minlength="10"`)

	// One field wrong: the error is beside it, and what was typed stays.
	key := hidden(t, page, "idempotency_key")
	code, page := alice.do("POST", Base+"/services/laptop", url.Values{"idempotency_key": {key}, "f.model": {"performance-16"}, "f.reason": {"too short"}, "f.keyboard": {"uk"}})
	if code != http.StatusUnprocessableEntity {
		t.Fatalf("a short reason: %d\n%s", code, page)
	}
	mustContain(t, page, `aria-describedby="f-reason-error"`, `id="f-reason-error"`, `>too short</textarea>`,
		`<option value="performance-16" selected>`, `<option value="uk" selected>`)
	if strings.Contains(page, `id="f-model-error"`) {
		t.Fatal("an error beside a field that was right")
	}

	// Fixed, and sent twice with the same key (a double click): one request.
	key = hidden(t, page, "idempotency_key")
	fixed := url.Values{"idempotency_key": {key}, "f.model": {"performance-16"}, "f.reason": {"my laptop's battery died"}}
	_, first := alice.do("POST", Base+"/services/laptop", fixed)
	_, second := alice.do("POST", Base+"/services/laptop", fixed)
	id := regexp.MustCompile(`<h1>(REQ-\d+) · Laptop for Alice Chen</h1>`).FindStringSubmatch(first)
	if id == nil {
		t.Fatalf("no request page after submitting:\n%s", first)
	}
	mustContain(t, first, "Your request is submitted", "pending approval", "Bob Ruiz: not decided yet", "my laptop&#39;s battery died", "2000.00 EUR")
	mustContain(t, second, "<h1>"+id[1]+" · ")
	list := alice.get(Base + "/requests")
	if n := strings.Count(list, `href="/portal/requests/REQ-`); n != 1 {
		t.Fatalf("a double click made %d requests:\n%s", n, list)
	}
	mustContain(t, alice.get(Base+"/"), id[1], "pending approval")

	// Bob sees it waiting on him.
	bob := newBrowser(t, base)
	bob.signIn("bob")
	mustContain(t, bob.get(Base+"/"), "Waiting on me", id[1], "manager approval")

	// A comment, then an empty one refused beside the box.
	page = alice.get(Base + "/requests/" + id[1])
	code, page = alice.do("POST", Base+"/requests/"+id[1]+"/comment", url.Values{"key": {hidden(t, page, "key")}, "text": {"Any model is fine"}})
	if code != http.StatusOK {
		t.Fatalf("comment: %d", code)
	}
	mustContain(t, page, "Your comment is added", "Any model is fine")
	code, page = alice.do("POST", Base+"/requests/"+id[1]+"/comment", url.Values{"key": {hidden(t, page, "key")}, "text": {"  "}})
	if code != http.StatusBadRequest {
		t.Fatalf("an empty comment: %d", code)
	}
	mustContain(t, page, `id="comment-error"`, `aria-describedby="comment-error"`)

	// Someone else's request is not found, not forbidden.
	if code, _ := bob.do("GET", Base+"/requests/REQ-999999", nil); code != http.StatusNotFound {
		t.Fatalf("an unknown request: %d", code)
	}

	// Withdrawn: closed, with its timeline.
	code, page = alice.do("POST", Base+"/requests/"+id[1]+"/withdraw", url.Values{"key": {hidden(t, page, "key")}, "reason": {"found a spare"}})
	if code != http.StatusOK {
		t.Fatalf("withdraw: %d\n%s", code, page)
	}
	mustContain(t, page, "Your request is withdrawn", `id="status">cancelled`, "found a spare", "Timeline")
	if strings.Contains(page, "/withdraw") {
		t.Fatal("a closed request still offers to withdraw")
	}
	fmt.Fprintln(io.Discard, page)
}
