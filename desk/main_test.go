package desk

// The desk's tests run against a real Temporal dev server (bin/temporal) and a real worker, on
// real databases (SQLite always, Postgres too when DATABASE_URL is set), without HTTP.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/esmhq/esm/catalog"
	"github.com/esmhq/esm/codec"
	"github.com/esmhq/esm/examples/hooks"
	"github.com/esmhq/esm/files"
	"github.com/esmhq/esm/store"
	"github.com/esmhq/esm/store/storetest"
	"github.com/esmhq/esm/worker"
	"github.com/esmhq/esm/workflows"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/testsuite"
	sdkworker "go.temporal.io/sdk/worker"
)

var devServer *testsuite.DevServer

// namespaces is how many envs the package's tests may start, each on a namespace of its own.
const namespaces = 60

var nextNamespace atomic.Int32

func TestMain(m *testing.M) { os.Exit(runMain(m)) }

func runMain(m *testing.M) int {
	bin, err := filepath.Abs(filepath.Join("..", "bin", "temporal"))
	if err == nil {
		_, err = os.Stat(bin)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "desk: bin/temporal is missing: run `make build` (make test does)")
		return 1
	}
	args := workflows.SearchAttributeFlags()
	for i := 1; i <= namespaces; i++ {
		args = append(args, "--namespace", fmt.Sprintf("desk-%d", i))
	}
	devServer, err = testsuite.StartDevServer(context.Background(), testsuite.DevServerOptions{
		ExistingPath:  bin,
		ClientOptions: &client.Options{Namespace: "default"},
		LogLevel:      "error",
		ExtraArgs:     args,
		Stdout:        os.Stderr,
		Stderr:        os.Stderr,
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "desk: start dev server:", err)
		return 1
	}
	code := m.Run()
	if err := devServer.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "desk: stop dev server:", err)
	}
	return code
}

// catalogPaths are the example catalog plus the services only tests use.
var catalogPaths = []string{"../examples", "../e2e/testdata/catalog"}

// fixture is one running ESM without its front doors: a database with the test catalog, a
// worker, and the desk.
type fixture struct {
	t     *testing.T
	store *store.Store
	tc    client.Client
	desk  *Desk
	hooks *hooks.Receiver
	// worker runs the workflows; a test may stop it (as a crash would).
	worker sdkworker.Worker
	// files is the desk's file store, in filesDir (under files/).
	files    *files.Store
	filesDir string
}

// each runs fn once per database, each on a fresh fixture.
func each(t *testing.T, fn func(t *testing.T, f *fixture), tweaks ...func(*Config)) {
	t.Helper()
	for _, d := range storetest.Dialects() {
		t.Run(d, func(t *testing.T) { fn(t, newFixture(t, d, tweaks...)) })
	}
}

// newFixture starts ESM on a fresh database of the dialect with the test catalog applied.
func newFixture(t *testing.T, dialect string, tweaks ...func(*Config)) *fixture {
	t.Helper()
	n := nextNamespace.Add(1)
	if n > namespaces {
		t.Fatalf("desk: more than %d fixtures: raise namespaces in main_test.go", namespaces)
	}
	ctx := context.Background()
	s := storetest.Open(t, dialect)
	f := &fixture{t: t, store: s, hooks: hooks.New()}
	hooksSrv := httptest.NewServer(f.hooks)
	t.Cleanup(hooksSrv.Close)
	t.Setenv("ESM_HOOKS_URL", hooksSrv.URL+"/hooks")
	t.Setenv("ESM_WEBHOOK_SECRET", "e2e-it-webhook-secret")
	t.Setenv("ESM_TEST_WEBHOOK_URL", hooksSrv.URL+"/hooks/notices")
	t.Setenv("ESM_TEST_WEBHOOK_SECRET", "e2e-webhook-secret")
	b, err := catalog.Load(catalogPaths...)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.ApplyBundle(ctx, b, time.Now()); err != nil {
		t.Fatal(err)
	}
	tc, err := client.Dial(client.Options{HostPort: devServer.FrontendHostPort(), Namespace: fmt.Sprintf("desk-%d", n), Logger: quiet{}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tc.Close)
	w := worker.New(tc, s, worker.Options{})
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
	f.worker = w
	if err := SyncLifecycles(ctx, tc, s); err != nil {
		t.Fatal(err)
	}
	f.filesDir = t.TempDir()
	fsURL, err := files.DefaultURL(f.filesDir)
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
	f.files = fs
	cfg := Config{Store: s, Temporal: tc, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Files: fs}
	for _, tweak := range tweaks {
		tweak(&cfg)
	}
	f.tc, f.desk = tc, New(cfg)
	return f
}

// person loads someone from the directory, as a front door does once it has authenticated them.
func (f *fixture) person(id string) Actor {
	f.t.Helper()
	p, err := f.store.Person(context.Background(), id)
	if err != nil {
		f.t.Fatalf("person %s: %v", id, err)
	}
	return p
}

// wantKind fails the test unless err is of the kind (errors.Is).
func wantKind(t *testing.T, err, kind error) {
	t.Helper()
	if !errors.Is(err, kind) {
		t.Fatalf("want an error of kind %v, got %v (%T)", kind, err, err)
	}
}

// quiet drops the SDK's client logs.
type quiet struct{}

func (quiet) Debug(string, ...any) {}
func (quiet) Info(string, ...any)  {}
func (quiet) Warn(string, ...any)  {}
func (quiet) Error(string, ...any) {}
