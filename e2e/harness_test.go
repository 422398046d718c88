package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/esmhq/esm/api"
	"github.com/esmhq/esm/catalog"
	"github.com/esmhq/esm/codec"
	"github.com/esmhq/esm/examples/hooks"
	"github.com/esmhq/esm/files"
	"github.com/esmhq/esm/store"
	"github.com/esmhq/esm/store/storetest"
	"github.com/esmhq/esm/telemetry"
	"github.com/esmhq/esm/worker"
	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"
)

var secret = []byte("e2e-secret-at-least-16-bytes")

// payloadCodec encrypts every payload, as in production; one key for the whole run, so an env
// restarted on the same namespace reads what the first one wrote.
var payloadCodec = func() *codec.Codec {
	c, err := codec.Parse(codec.NewKey("e2e"))
	if err != nil {
		panic(err)
	}
	return c
}()

// catalogPaths are the example catalog plus the services only tests use.
var catalogPaths = []string{"../examples", "testdata/catalog"}

// env is one running ESM: a database, a worker and the API on a real HTTP listener.
type env struct {
	t      *testing.T
	store  *store.Store
	tc     client.Client
	url    string
	api    *api.Server
	router routers.Router
	ns     string
	// hooks is the automation endpoint the catalog's automated tasks call in this env.
	hooks  *hooks.Receiver
	worker sdkworker.Worker
	// wopts are the worker's options (a mail server: newMailEnv).
	wopts worker.Options
	// filesDir holds the file store (files/ under it).
	filesDir string
	// stop stops the worker and the API, as a crash or a restart would.
	stop func()
}

// restartWorker stops the worker and starts a new one, as a deploy would.
func (e *env) restartWorker() {
	e.worker.Stop()
	e.worker = worker.New(e.tc, e.store, e.wopts)
	if err := e.worker.Start(); err != nil {
		e.t.Fatal(err)
	}
}

// newEnv starts ESM on a fresh database of the dialect with the example catalog applied.
func newEnv(t *testing.T, dialect string) *env {
	t.Helper()
	return startEnv(t, freshNamespace(t), storetest.URL(t, dialect), true)
}

// newObservedEnv is newEnv with metrics and traces (spans go to exp).
func newObservedEnv(t *testing.T, exp sdktrace.SpanExporter) *env {
	t.Helper()
	tel, err := telemetry.New(telemetry.Options{SpanExporter: exp, Sync: true})
	if err != nil {
		t.Fatal(err)
	}
	return startEnvWith(t, freshNamespace(t), storetest.URL(t, "sqlite"), true, tel)
}

// startEnv starts API and worker on the database at url and the Temporal namespace ns; apply
// loads the example catalog.
func startEnv(t *testing.T, ns, url string, apply bool) *env {
	return startEnvWith(t, ns, url, apply, nil)
}

// Each tweak is a func(*api.Config) or a func(*worker.Options).
func startEnvWith(t *testing.T, ns, url string, apply bool, tel *telemetry.Telemetry, tweaks ...any) *env {
	t.Helper()
	ctx := context.Background()
	s, err := store.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, hooks: hooks.New(), ns: ns}
	hooksSrv := httptest.NewServer(e.hooks)
	t.Cleanup(hooksSrv.Close)
	t.Setenv("ESM_HOOKS_URL", hooksSrv.URL+"/hooks")
	t.Setenv("ESM_WEBHOOK_SECRET", "e2e-it-webhook-secret")
	// The test department's webhook goes to the hooks receiver unless a test listens itself.
	if os.Getenv("ESM_TEST_WEBHOOK_URL") == "" {
		t.Setenv("ESM_TEST_WEBHOOK_URL", hooksSrv.URL+"/hooks/notices")
		t.Setenv("ESM_TEST_WEBHOOK_SECRET", "e2e-webhook-secret")
	}
	if apply {
		b, err := catalog.Load(catalogPaths...)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.ApplyBundle(ctx, b, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	opts := client.Options{HostPort: devServer.FrontendHostPort(), Namespace: ns, Logger: quiet{},
		DataConverter: payloadCodec.DataConverter()}
	cfg := api.Config{Store: s, JWTSecret: secret, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Codec: payloadCodec, CodecOrigin: "http://ui.test"}
	e.filesDir = t.TempDir()
	fsURL, err := files.DefaultURL(e.filesDir)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Files, err = files.Open(ctx, fsURL, payloadCodec); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cfg.Files.Close() })
	if tel != nil {
		opts = tel.ClientOptions(opts)
		cfg.Registry, cfg.Tracer = tel.Registry, tel.Tracer
	}
	tc, err := client.Dial(opts)
	if err != nil {
		t.Fatal(err)
	}
	for _, tweak := range tweaks {
		if f, ok := tweak.(func(*worker.Options)); ok {
			f(&e.wopts)
		}
	}
	e.wopts.Files = cfg.Files
	e.worker = worker.New(tc, s, e.wopts)
	if err := e.worker.Start(); err != nil {
		t.Fatal(err)
	}
	if err := api.SyncLifecycles(ctx, tc, s); err != nil {
		t.Fatal(err)
	}
	cfg.Temporal = tc
	for _, tweak := range tweaks {
		if f, ok := tweak.(func(*api.Config)); ok {
			f(&cfg)
		}
	}
	e.api = api.New(cfg)
	srv := httptest.NewServer(e.api.Handler())
	doc, err := openapi3.NewLoader().LoadFromData(api.OpenAPI())
	if err != nil {
		t.Fatal(err)
	}
	if err := doc.Validate(ctx); err != nil {
		t.Fatalf("openapi.yaml: %v", err)
	}
	doc.Servers = openapi3.Servers{{URL: srv.URL}}
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	stopped := false
	e.store, e.tc, e.url, e.router = s, tc, srv.URL, router
	e.stop = func() {
		if stopped {
			return
		}
		stopped = true
		srv.Close()
		e.worker.Stop()
		tc.Close()
		s.Close()
	}
	t.Cleanup(e.stop)
	return e
}

func (e *env) token(person string) string {
	tok, err := api.IssueToken(secret, person, time.Now(), time.Hour)
	if err != nil {
		e.t.Fatal(err)
	}
	return tok
}

// response is an HTTP answer with its JSON body decoded.
type response struct {
	Status int
	Header http.Header
	Body   map[string]any
	Raw    []byte
}

// call makes an HTTP call as person ("" for none) and checks request and response against
// api/openapi.yaml, so the contract cannot drift from the code.
func (e *env) call(method, path, person string, body any, headers ...string) response {
	e.t.Helper()
	var rd io.Reader
	var raw []byte
	if body != nil {
		switch b := body.(type) {
		case string:
			raw = []byte(b)
		default:
			var err error
			if raw, err = json.Marshal(b); err != nil {
				e.t.Fatal(err)
			}
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, e.url+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if person != "" {
		req.Header.Set("Authorization", "Bearer "+e.token(person))
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	out := response{Status: resp.StatusCode, Header: resp.Header}
	out.Raw, _ = io.ReadAll(resp.Body)
	if len(out.Raw) > 0 && strings.Contains(resp.Header.Get("Content-Type"), "json") {
		if err := json.Unmarshal(out.Raw, &out.Body); err != nil {
			e.t.Fatalf("%s %s: body is not a JSON object: %v: %s", method, path, err, out.Raw)
		}
	}
	if resp.StatusCode >= 500 {
		e.t.Errorf("%s %s: %d: %s", method, path, resp.StatusCode, out.Raw)
	}
	e.checkContract(req, raw, resp, out.Raw)
	return out
}

// checkContract validates one exchange against the OpenAPI document.
func (e *env) checkContract(req *http.Request, reqBody []byte, resp *http.Response, respBody []byte) {
	e.t.Helper()
	req.Body = io.NopCloser(bytes.NewReader(reqBody))
	route, params, err := e.router.FindRoute(req)
	if err != nil {
		e.t.Errorf("%s %s: not in openapi.yaml: %v", req.Method, req.URL.Path, err)
		return
	}
	in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}}
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: resp.StatusCode,
		Header: resp.Header, Body: io.NopCloser(bytes.NewReader(respBody)),
		Options: &openapi3filter.Options{IncludeResponseStatus: true}}
	if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
		e.t.Errorf("%s %s -> %d: response breaks openapi.yaml: %v\n%s", req.Method, req.URL.Path, resp.StatusCode, err, respBody)
	}
}

// quiet drops the SDK's client logs.
type quiet struct{}

func (quiet) Debug(string, ...any) {}
func (quiet) Info(string, ...any)  {}
func (quiet) Warn(string, ...any)  {}
func (quiet) Error(string, ...any) {}
