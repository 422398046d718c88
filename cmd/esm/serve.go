package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/esmhq/esm/api"
	"github.com/esmhq/esm/desk"
	"github.com/esmhq/esm/examples/hooks"
	"github.com/esmhq/esm/files"
	"github.com/esmhq/esm/store"
	"github.com/esmhq/esm/web"
	"github.com/esmhq/esm/worker"
	"github.com/esmhq/esm/workflows"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/log"
	"golang.org/x/sync/errgroup"
)

func dialTemporal(ctx context.Context, cfg config) (client.Client, error) {
	c, err := client.DialContext(ctx, cfg.Telemetry.ClientOptions(client.Options{
		HostPort:          cfg.Temporal,
		Namespace:         cfg.Namespace,
		Logger:            log.NewStructuredLogger(cfg.Log),
		DataConverter:     cfg.Codec.DataConverter(),
		ConnectionOptions: cfg.Connection,
	}))
	if err != nil {
		return nil, fmt.Errorf("connect to Temporal at %s: %w", cfg.Temporal, err)
	}
	return c, nil
}

// serveAPI serves HTTP until ctx ends, then drains in-flight calls.
func serveAPI(ctx context.Context, cfg config, s *store.Store) error {
	tc, err := dialTemporal(ctx, cfg)
	if err != nil {
		return err
	}
	defer tc.Close()
	return listenAndServe(ctx, cfg, s, tc, nil, false, nil)
}

// openFiles opens the attachments' store (ESM_BLOB_URL, default .data/files) with the payload
// keys, and the virus scanner when ESM_CLAMD_ADDR names one.
func openFiles(ctx context.Context, cfg config) (*files.Store, *files.Clamd, error) {
	url := os.Getenv("ESM_BLOB_URL")
	if url == "" {
		var err error
		if url, err = files.DefaultURL(".data"); err != nil {
			return nil, nil, fmt.Errorf("ESM_BLOB_URL: %w", err)
		}
	}
	fs, err := files.Open(ctx, url, cfg.Codec)
	if err != nil {
		return nil, nil, fmt.Errorf("ESM_BLOB_URL: %w", err)
	}
	var clamd *files.Clamd
	if addr := os.Getenv("ESM_CLAMD_ADDR"); addr != "" {
		clamd = &files.Clamd{Addr: addr}
	}
	return fs, clamd, nil
}

// minSCIMToken is ESM_SCIM_TOKEN's least length, in bytes: the token is the identity
// provider's whole credential for writing the directory (who exists, who is active, who is in
// which group), so it is as long as ESM_SESSION_SECRET must be.
const minSCIMToken = 32

// scimToken reads ESM_SCIM_TOKEN: "" when it is not set (then /scim/v2 is not served); an error
// naming it when it is shorter than minSCIMToken bytes. esm api and esm dev check it at start.
func scimToken(getenv func(string) string) (string, error) {
	t := getenv("ESM_SCIM_TOKEN")
	if t != "" && len(t) < minSCIMToken {
		return "", fmt.Errorf("set ESM_SCIM_TOKEN to at least %d random bytes (the identity provider's bearer token for /scim/v2; has %d), or unset it to serve no SCIM", minSCIMToken, len(t))
	}
	return t, nil
}

// apiConfig is the API's configuration. devUI is the Temporal UI esm dev started: only runDev
// passes it (esm api passes nil, whatever the environment says).
func apiConfig(cfg config, s *store.Store, tc client.Client, jwks *api.JWKS, devUI *api.DevUI) api.Config {
	secret := cfg.Secret
	if os.Getenv("ESM_JWT_SECRET") == "" && jwks != nil {
		secret = nil // an identity provider only: no development tokens
	}
	return api.Config{Store: s, Temporal: tc, JWTSecret: secret, Logger: cfg.Log,
		Codec: cfg.Codec, CodecOrigin: cfg.UIOrigin, DevUI: devUI, JWKS: jwks,
		Registry: cfg.Telemetry.Registry, Tracer: cfg.Telemetry.Tracer,
		Issuer: os.Getenv("ESM_JWT_ISSUER"), Audience: os.Getenv("ESM_JWT_AUDIENCE"),
		SCIMToken: os.Getenv("ESM_SCIM_TOKEN")}
}

// listenAndServe serves the API and, on the same address under /portal/, the portal. dev is
// `esm dev`: the portal's "sign in as"; without it (esm api) the portal signs in with OpenID
// Connect when ESM_OIDC_* says so (signin.go), and otherwise says that sign-in is not configured.
func listenAndServe(ctx context.Context, cfg config, s *store.Store, tc client.Client, devUI *api.DevUI, dev bool, ready func(addr string)) error {
	if _, err := scimToken(os.Getenv); err != nil {
		return err
	}
	var jwks *api.JWKS
	if src := os.Getenv("ESM_JWKS"); src != "" {
		var err error
		if jwks, err = api.LoadJWKS(ctx, src); err != nil {
			return err
		}
	}
	fs, clamd, err := openFiles(ctx, cfg)
	if err != nil {
		return err
	}
	defer fs.Close()
	acfg := apiConfig(cfg, s, tc, jwks, devUI)
	acfg.Files, acfg.Clamd = fs, clamd
	// An upload may stream past the server's ReadTimeout, up to ESM_UPLOAD_TIMEOUT in all
	// (api.Config.UploadTimeout; a minute of silence cuts it whatever this says).
	if v := os.Getenv("ESM_UPLOAD_TIMEOUT"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return fmt.Errorf("ESM_UPLOAD_TIMEOUT=%q: want a positive Go duration such as 1h or 30m", v)
		}
		acfg.UploadTimeout = d
	}
	a := api.New(acfg)
	// The portal's desk stops its waits when the server begins to shut down, as the API's does.
	portalDraining, stopPortalWaits := context.WithCancel(context.Background())
	defer stopPortalWaits()
	portalDesk := desk.New(desk.Config{Store: s, Temporal: tc, Logger: cfg.Log, Draining: portalDraining, Files: fs, Clamd: clamd})
	secret, signIn := cfg.Secret, (*web.OIDC)(nil)
	if !dev {
		var err error
		if signIn, secret, err = portalSignIn(ctx, os.Getenv); err != nil {
			return err
		}
		if signIn != nil {
			cfg.Log.Info("portal sign-in: OpenID Connect", "redirect_uri", signIn.RedirectURL())
		}
	}
	portal, err := web.New(web.Config{Desk: portalDesk, Directory: s, Secret: secret, Dev: dev, OIDC: signIn, Logger: cfg.Log})
	if err != nil {
		return err
	}
	mux := http.NewServeMux()
	mux.Handle(web.Base+"/", portal.Handler())
	mux.Handle("/", a.Handler())
	srv := &http.Server{
		Addr:              cfg.Addr,
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Addr, err)
	}
	if ready != nil {
		ready(ln.Addr().String())
	}
	cfg.Log.Info("API listening", "addr", ln.Addr().String())
	errc := make(chan error, 1)
	cert, key := os.Getenv("ESM_TLS_CERT"), os.Getenv("ESM_TLS_KEY")
	if (cert == "") != (key == "") {
		ln.Close()
		return errors.New("set both ESM_TLS_CERT and ESM_TLS_KEY (PEM files) to serve HTTPS, or neither")
	}
	go func() {
		if cert != "" {
			errc <- srv.ServeTLS(ln, cert, key)
			return
		}
		errc <- srv.Serve(ln)
	}()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	stopPortalWaits()
	a.StopWaiting() // gets waiting for a request to close answer now, not at their wait's end
	shutdown, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	return srv.Shutdown(shutdown)
}

// runWorker runs the worker until ctx ends; Stop lets running tasks finish.
func runWorker(ctx context.Context, cfg config, s *store.Store) error {
	tc, err := dialTemporal(ctx, cfg)
	if err != nil {
		return err
	}
	defer tc.Close()
	if addr := os.Getenv("ESM_METRICS_ADDR"); addr != "" {
		go func() {
			if err := serveMetrics(ctx, cfg, addr); err != nil {
				cfg.Log.Error("metrics", "error", err)
			}
		}()
	}
	// Retention deletes attachments from the same store the API writes them to.
	fs, _, err := openFiles(ctx, cfg)
	if err != nil {
		return err
	}
	defer fs.Close()
	cfg.Worker.Files = fs
	return workLoop(ctx, tc, s, cfg.Worker)
}

func workLoop(ctx context.Context, tc client.Client, s *store.Store, opts worker.Options) error {
	w := worker.New(tc, s, opts)
	if err := w.Start(); err != nil {
		return fmt.Errorf("start worker: %w", err)
	}
	// Requests whose workflow closed without writing its final state (terminated, timed out)
	// are closed in the read model (docs/DESIGN-NOTES.md, "Every way out"); the files of
	// submissions that never started are deleted from the same file store.
	go func() { _ = (&worker.Reconciler{Temporal: tc, Store: s, Files: opts.Files}).Run(ctx) }()
	// The daily digest runs from a Temporal Schedule (docs/NOTIFICATIONS.md); a worker that
	// cannot create it still runs everything else, and says why.
	if err := worker.EnsureDigestSchedule(ctx, tc); err != nil {
		if opts.Log != nil {
			opts.Log.Warn("the digest schedule", "error", err)
		} else {
			fmt.Fprintln(os.Stderr, "esm: the digest schedule:", err)
		}
	}
	<-ctx.Done()
	w.Stop()
	return nil
}

// serveMetrics serves a worker process's /metrics (the SDK's worker metrics) on addr.
func serveMetrics(ctx context.Context, cfg config, addr string) error {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(cfg.Telemetry.Registry, promhttp.HandlerOpts{}))
	srv := &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("metrics on %s: %w", addr, err)
	}
	return nil
}

// runDev is `make run`: a Temporal dev server (unless one already answers), the database
// migrated, the example catalog applied, API and worker in this process.
func runDev(ctx context.Context, cfg config, out io.Writer) error {
	if err := os.MkdirAll(".data", 0o755); err != nil {
		return err
	}
	stopTemporal, devUI, err := ensureTemporal(ctx, cfg, out)
	if err != nil {
		return err
	}
	defer stopTemporal()
	stopMail, err := ensureMailpit(ctx, out)
	if err != nil {
		return err
	}
	defer stopMail()
	if cfg.Worker.Mail == nil {
		m, err := mailer(cfg.Addr)
		if err != nil {
			return fmt.Errorf("mail: %w", err)
		}
		if m != nil {
			cfg.Worker.Mail = m
		}
	}

	tc, err := dialTemporal(ctx, cfg)
	if err != nil {
		return err
	}
	defer tc.Close()
	hooksAddr := env("ESM_HOOKS_ADDR", "127.0.0.1:8091")
	if os.Getenv("ESM_HOOKS_URL") == "" {
		os.Setenv("ESM_HOOKS_URL", "http://"+hooksAddr+"/hooks")
	}
	if os.Getenv("ESM_WEBHOOK_SECRET") == "" {
		os.Setenv("ESM_WEBHOOK_SECRET", "esm-dev-webhook-secret") // the example IT department signs with it
	}
	return withStore(ctx, cfg, true, func(s *store.Store) error {
		if err := applyCatalog(ctx, s, []string{env("ESM_CATALOG", "examples")}, out); err != nil {
			return err
		}
		g, gctx := errgroup.WithContext(ctx)
		// The demo automation endpoint the example catalog's automated tasks call.
		g.Go(func() error { return serveHooks(gctx, hooksAddr, cfg) })
		fs, _, err := openFiles(ctx, cfg)
		if err != nil {
			return err
		}
		defer fs.Close()
		cfg.Worker.Files = fs
		g.Go(func() error { return workLoop(gctx, tc, s, cfg.Worker) })
		// Every service gets its lifecycle workflow (the worker above runs them).
		g.Go(func() error {
			if err := api.SyncLifecycles(gctx, tc, s); err != nil {
				cfg.Log.Warn("lifecycle workflows not synced", "error", err)
			}
			return nil
		})
		g.Go(func() error {
			return listenAndServe(gctx, cfg, s, tc, devUI, true, func(addr string) { printBanner(ctx, cfg, s, addr, out) })
		})
		return g.Wait()
	})
}

func serveHooks(ctx context.Context, addr string, cfg config) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("demo hooks on %s (set ESM_HOOKS_ADDR): %w", addr, err)
	}
	mux := http.NewServeMux()
	mux.Handle("/hooks/", hooks.New())
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok\n") })
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	cfg.Log.Info("demo automation hooks listening", "addr", addr)
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// ensureTemporal starts bin/temporal start-dev with a database file under .data/ unless a server
// already answers at cfg.Temporal. The returned func stops what it started; the DevUI is the
// Temporal UI it started, whose codec calls the API lets through without a token (nil when
// the server was already there: its UI is not ours to trust).
func ensureTemporal(ctx context.Context, cfg config, out io.Writer) (func(), *api.DevUI, error) {
	if temporalUp(ctx, cfg) {
		fmt.Fprintf(out, "using the Temporal server at %s (its UI decodes payloads only with an operator's token)\n", cfg.Temporal)
		return func() {}, nil, nil
	}
	bin := env("ESM_TEMPORAL_BIN", filepath.Join("bin", "temporal"))
	host, port, err := net.SplitHostPort(cfg.Temporal)
	if err != nil {
		return nil, nil, fmt.Errorf("TEMPORAL_ADDRESS %q: %w", cfg.Temporal, err)
	}
	uiPort := env("ESM_UI_PORT", "8233")
	args := append([]string{"server", "start-dev",
		"--ip", host, "--port", port, "--ui-port", uiPort,
		"--db-filename", filepath.Join(".data", "temporal.db"),
		"--namespace", cfg.Namespace, "--log-level", "warn",
		"--ui-codec-endpoint", "http://" + localAddr(cfg.Addr) + "/codec",
	}, workflows.SearchAttributeFlags()...)
	stop, err := startChild(bin+" (run make build first)", bin, args, "temporal.log", 10*time.Second)
	if err != nil {
		return nil, nil, err
	}
	fmt.Fprintf(out, "starting the Temporal dev server (%s, log in .data/temporal.log)...\n", bin)
	if !waitUp(ctx, 60*time.Second, 300*time.Millisecond, func() bool { return temporalUp(ctx, cfg) }) {
		stop()
		return nil, nil, errors.New("the Temporal dev server did not come up in 60s: see .data/temporal.log")
	}
	return stop, &api.DevUI{Origins: uiOrigins(host, uiPort)}, nil
}

// uiOrigins are the origins a browser on this machine reaches the dev server's UI at: the
// address the banner prints, and both loopback names of its port.
func uiOrigins(host, port string) []string {
	origins := []string{"http://" + uiHostPort(host, port)}
	for _, h := range []string{"127.0.0.1", "localhost"} {
		if o := "http://" + net.JoinHostPort(h, port); !slices.Contains(origins, o) {
			origins = append(origins, o)
		}
	}
	return origins
}

// uiHostPort is where the dev server's UI listens, as a browser writes it (start-dev serves it
// on the frontend's --ip).
func uiHostPort(host, port string) string {
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "localhost"
	}
	return net.JoinHostPort(host, port)
}

// localAddr turns a listen address (":8080", "0.0.0.0:8080") into one a browser can reach.
func localAddr(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "localhost"
	}
	return net.JoinHostPort(host, port)
}

func temporalUp(ctx context.Context, cfg config) bool {
	cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	c, err := client.DialContext(cctx, client.Options{HostPort: cfg.Temporal, Namespace: cfg.Namespace, Logger: quietLogger{}})
	if err != nil {
		return false
	}
	defer c.Close()
	_, err = c.CheckHealth(cctx, &client.CheckHealthRequest{})
	return err == nil
}

func printBanner(ctx context.Context, cfg config, s *store.Store, addr string, out io.Writer) {
	addr = localAddr(addr)
	host, _, _ := net.SplitHostPort(cfg.Temporal)
	fmt.Fprintf(out, "\nESM is up.\n  Portal       http://%s%s/  (sign in as anyone in the directory)\n  API          http://%s  (OpenAPI at /openapi.yaml)\n  Temporal UI  http://%s/namespaces/%s/workflows\n",
		addr, web.Base, addr, uiHostPort(host, env("ESM_UI_PORT", "8233")), cfg.Namespace)
	if mailUI != "" {
		fmt.Fprintf(out, "  Mail         %s  (every mail ESM sends, caught)\n", mailUI)
	}
	fmt.Fprintf(out, "\nDemo tokens (24h):\n")
	for _, who := range []struct{ id, role string }{{"alice", "requester"}, {"bob", "her manager, approver"}, {"dave", "IT service desk, fulfiller"}} {
		if _, err := s.Person(ctx, who.id); err != nil {
			continue
		}
		tok, err := api.IssueToken(cfg.Secret, who.id, time.Now(), 24*time.Hour)
		if err != nil {
			continue
		}
		fmt.Fprintf(out, "  %-6s (%s)\n  export %s_TOKEN=%s\n", who.id, who.role, strings.ToUpper(who.id), tok)
	}
	fmt.Fprintln(out, "\nCtrl-C stops everything.")
}

// quietLogger drops the SDK's logs for health probes.
type quietLogger struct{}

func (quietLogger) Debug(string, ...any) {}
func (quietLogger) Info(string, ...any)  {}
func (quietLogger) Warn(string, ...any)  {}
func (quietLogger) Error(string, ...any) {}
