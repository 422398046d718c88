// Command esm is the one ESM binary: esm api | worker | dev | migrate | catalog apply | token.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"github.com/esmhq/esm/api"
	"github.com/esmhq/esm/catalog"
	"github.com/esmhq/esm/codec"
	"github.com/esmhq/esm/store"
	"github.com/esmhq/esm/telemetry"
	"github.com/esmhq/esm/worker"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.temporal.io/sdk/client"
)

const usage = `esm: service management for every department, on Temporal

usage:
  esm dev                        start the Temporal dev server (bin/temporal) unless one answers,
                                 migrate, apply examples/, run API and worker; Ctrl-C stops all
  esm api                        serve the HTTP API
  esm worker                     run the Temporal worker
  esm migrate                    apply database migrations
  esm catalog apply -f PATH...   validate and load catalog YAML (files or directories)
  esm token [-ttl 24h] PERSON    print a bearer token for a person in the directory
  esm setup [-retention 168h]    register the namespace (TEMPORAL_NAMESPACE) and ESM's search
                                 attributes on a Temporal cluster (what is there is left alone)
  esm keygen                     print a new payload encryption key (for ESM_PAYLOAD_KEYS)
  esm requests [-status S] [-service S]   list requests (everyone's; --as PERSON: their own)
  esm show REQ-000042            a request's state, SLA clocks and audit trail (--as PERSON:
                                 as that person may see it, as the API would answer them)
  esm breaches                   open requests that missed their resolution target
  esm bench [-n 200] [-c 10]     ESM end to end against bare-SDK baselines on a fresh dev server
  esm topology                   the production topology on this machine, without containers:
                                 Postgres clusters, the Temporal server, two APIs, two workers
                                 (make topology builds what it needs); Ctrl-C stops all of it
  esm hooks                      serve the example catalog's automation endpoint on
                                 ESM_HOOKS_ADDR (default 127.0.0.1:8091), /healthz beside it
  esm idp -ui URL | -portal URL  a development identity provider (not for production) over the
                                 directory's people (password: the person id) for the Temporal
                                 UI's and the portal's sign-in; ESM_JWKS=<it>/keys for the API

environment (defaults work for make run):
  DATABASE_URL        postgres://... or a SQLite path (default .data/esm.db)
  TEMPORAL_ADDRESS    Temporal frontend (default 127.0.0.1:7233)
  TEMPORAL_NAMESPACE  (default default)
  ESM_ADDR            API listen address (default :8080)
  ESM_TLS_CERT        with ESM_TLS_KEY: esm api serves HTTPS with this PEM certificate (chain)
  ESM_TLS_KEY         and key (the Temporal UI passes its token only to an https codec)
  ESM_JWT_SECRET      HS256 secret for bearer tokens (esm dev has a dev default)
  ESM_JWKS            a JWKS file or URL: RS256/ES256 tokens of an identity provider
  ESM_JWT_ISSUER      the iss and aud tokens must carry (default esm, esm)
  ESM_JWT_AUDIENCE
  ESM_OIDC_ISSUER     the portal's sign-in (esm api): OpenID Connect issuer (default ESM_JWT_ISSUER)
  ESM_OIDC_CLIENT_ID  the portal's client id there (setting it turns the sign-in on)
  ESM_OIDC_CLIENT_SECRET  its secret (none for a public client)
  ESM_PORTAL_URL      the portal's public https base URL (redirect: <it>/portal/auth/callback)
  ESM_SESSION_SECRET  keys the portal's cookies with OIDC: at least 32 random bytes
  ESM_SCIM_TOKEN      serves SCIM provisioning at /scim/v2 to the identity provider holding it
                      as bearer token: at least 32 random bytes (unset: no SCIM)
  ESM_LOG_FORMAT      text or json (default text)
  ESM_PAYLOAD_KEYS    id:base64key[,id:base64key...]: encrypts Temporal payloads (first key encrypts;
                      required by esm api and worker; esm dev has a dev key)
  ESM_UI_ORIGIN       the Temporal UI's origin, allowed to call /codec with an operator's token
                      (default http://localhost:8233; esm dev also allows the UI it starts)
  ESM_METRICS_ADDR    where esm worker serves /metrics (the API serves it on its own address)
  ESM_TEMPORAL_GZIP   on or off: gzip the gRPC calls to Temporal (default on, the SDK's default)
  OTEL_EXPORTER_OTLP_ENDPOINT  export traces over OTLP/HTTP when set
  ESM_SMTP_URL        mail server: smtp://user:pass@host:port?starttls=mandatory|opportunistic|none,
                      or smtps:// (implicit TLS); unset: notifications go to the log (esm dev
                      starts bin/mailpit and sets it)
  ESM_BLOB_URL        where attachments are kept, encrypted with ESM_PAYLOAD_KEYS: a gocloud.dev/blob URL,
                      s3://bucket?endpoint=http://minio:9000&region=us-east-1&use_path_style=true
                      (credentials from the AWS environment); default a directory .data/files
  ESM_CLAMD_ADDR      scan every upload with ClamAV's daemon: host:port or a Unix socket path
                      (its StreamMaxLength at least the catalog's largest attachments.max_bytes)
  ESM_MAIL_FROM       sender of the mails (default "ESM Service Desk <esm@esm.localhost>")
  ESM_PORTAL_URL      ESM's public base URL; mails link under <it>/portal (default http://<ESM_ADDR>)
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout)
	stop()
	if err != nil {
		if jsonLogs() {
			slog.Error("esm failed", "error", err.Error())
		} else {
			fmt.Fprintln(os.Stderr, "esm:", err)
		}
		os.Exit(1)
	}
}

// jsonLogs says whether ESM_LOG_FORMAT asks for JSON lines.
func jsonLogs() bool { return os.Getenv("ESM_LOG_FORMAT") == "json" }

// newLogger makes the process's logger and makes it the default one, so that every line the
// process writes to its log has the format asked for: its own, the notifier's, the worker's, the
// Temporal SDK's, and those of libraries that use the standard log package.
func newLogger(w io.Writer, json bool) *slog.Logger {
	var h slog.Handler = slog.NewTextHandler(w, nil)
	if json {
		h = slog.NewJSONHandler(w, nil)
	}
	l := slog.New(h)
	slog.SetDefault(l)
	return l
}

// die reports a configuration error in the log's format and exits.
func die(log *slog.Logger, what string, err error) {
	if jsonLogs() {
		log.Error("esm: "+what, "error", err.Error())
	} else {
		fmt.Fprintf(os.Stderr, "esm: %s: %v\n", what, err)
	}
	os.Exit(2)
}

func run(ctx context.Context, args []string, out io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(out, usage)
		return errors.New("name a command")
	}
	cfg := loadConfig()
	defer func() {
		// Flush the spans and metrics still pending.
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = cfg.Telemetry.Shutdown(sctx)
	}()
	switch args[0] {
	case "dev":
		return runDev(ctx, cfg, out)
	case "api":
		if os.Getenv("ESM_JWT_SECRET") == "" && os.Getenv("ESM_JWKS") == "" {
			return errors.New("set ESM_JWKS (an identity provider's keys) or ESM_JWT_SECRET (HS256, at least 16 bytes) before serving the API")
		}
		if os.Getenv("ESM_PAYLOAD_KEYS") == "" {
			return errors.New("set ESM_PAYLOAD_KEYS (id:base64 32-byte key; esm keygen prints one) before serving the API")
		}
		if _, _, err := portalOIDCConfig(os.Getenv); err != nil { // before the database and Temporal
			return err
		}
		if _, err := scimToken(os.Getenv); err != nil {
			return err
		}
		return withStore(ctx, cfg, false, func(s *store.Store) error { return serveAPI(ctx, cfg, s) })
	case "worker":
		if os.Getenv("ESM_PAYLOAD_KEYS") == "" {
			return errors.New("set ESM_PAYLOAD_KEYS (id:base64 32-byte key; esm keygen prints one) before running the worker")
		}
		return withStore(ctx, cfg, false, func(s *store.Store) error { return runWorker(ctx, cfg, s) })
	case "keygen":
		fmt.Fprintln(out, codec.NewKey(time.Now().UTC().Format("k20060102")))
		return nil
	case "migrate":
		return withStore(ctx, cfg, true, func(*store.Store) error {
			fmt.Fprintln(out, "migrated")
			return nil
		})
	case "catalog":
		return catalogCmd(ctx, cfg, args[1:], out)
	case "token":
		return tokenCmd(ctx, cfg, args[1:], out)
	case "setup":
		return setupCmd(ctx, cfg, args[1:], out)
	case "requests":
		return requestsCmd(ctx, cfg, args[1:], out)
	case "show":
		return showCmd(ctx, cfg, args[1:], out)
	case "breaches":
		return breachesCmd(ctx, cfg, args[1:], out)
	case "bench":
		return benchCmd(ctx, args[1:], out)
	case "hooks":
		// The example catalog's automation endpoint on its own (esm dev serves it itself).
		return serveHooks(ctx, env("ESM_HOOKS_ADDR", "127.0.0.1:8091"), cfg)
	case "topology":
		return topologyCmd(ctx, args[1:], out)
	case "idp":
		return idpCmd(ctx, cfg, args[1:], out)
	case "help", "-h", "--help":
		fmt.Fprint(out, usage)
		return nil
	}
	fmt.Fprint(out, usage)
	return fmt.Errorf("unknown command %q", args[0])
}

// config is read from the environment with defaults that work for make run.
type config struct {
	DatabaseURL string
	Temporal    string
	Namespace   string
	Addr        string
	Secret      []byte
	Codec       *codec.Codec
	UIOrigin    string
	Log         *slog.Logger
	Telemetry   *telemetry.Telemetry
	Worker      worker.Options
	// Connection is how the API and the worker talk to Temporal (ESM_TEMPORAL_GZIP).
	Connection client.ConnectionOptions
}

// DevPayloadKey encrypts payloads for `make run` only; esm api and worker require their own.
const DevPayloadKey = "dev:ZXNtLWRldi1wYXlsb2FkLWtleS1ub3QtZm9yLXByb2Q="

// DevSecret signs tokens for `make run` only; esm api refuses to start without ESM_JWT_SECRET.
const DevSecret = "esm-dev-secret-not-for-production"

func loadConfig() config {
	log := newLogger(os.Stderr, jsonLogs())
	c, err := codec.Parse(env("ESM_PAYLOAD_KEYS", DevPayloadKey))
	if err != nil {
		die(log, "ESM_PAYLOAD_KEYS", err)
	}
	var opts telemetry.Options
	if os.Getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "" || os.Getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != "" {
		// The exporter reads the standard OTEL_EXPORTER_OTLP_* variables.
		exp, err := otlptracehttp.New(context.Background())
		if err != nil {
			die(log, "OTLP", err)
		}
		opts.SpanExporter = exp
	}
	tel, err := telemetry.New(opts)
	if err != nil {
		die(log, "telemetry", err)
	}
	var wopts worker.Options
	for _, v := range []struct {
		name string
		to   *int
	}{{"ESM_WORKER_POLLERS", &wopts.Pollers}, {"ESM_WORKER_MAX_ACTIVITIES", &wopts.MaxConcurrentActivities}} {
		if s := os.Getenv(v.name); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil {
				die(log, v.name, fmt.Errorf("want a whole number, got %q", s))
			}
			*v.to = n
		}
	}
	gzip := true
	switch v := env("ESM_TEMPORAL_GZIP", "on"); v {
	case "on":
	case "off":
		gzip = false
	default:
		die(log, "ESM_TEMPORAL_GZIP", fmt.Errorf("want on or off, got %q", v))
	}
	addr := env("ESM_ADDR", ":8080")
	// A malformed ESM_SMTP_URL (or ESM_MAIL_FROM) stops every command at start, esm api,
	// worker and dev included; without it, notifications go to the log.
	m, err := mailer(addr)
	if err != nil {
		die(log, "mail", err)
	}
	if m != nil {
		wopts.Mail = m
	}
	wopts.Log = log
	return config{
		Connection:  connection(gzip),
		Worker:      wopts,
		Telemetry:   tel,
		Codec:       c,
		UIOrigin:    env("ESM_UI_ORIGIN", "http://localhost:8233"),
		DatabaseURL: os.Getenv("DATABASE_URL"),
		Temporal:    env("TEMPORAL_ADDRESS", "127.0.0.1:7233"),
		Namespace:   env("TEMPORAL_NAMESPACE", "default"),
		Addr:        addr,
		Secret:      []byte(env("ESM_JWT_SECRET", DevSecret)),
		Log:         log,
	}
}

// connection says whether gRPC requests to Temporal are gzipped (the SDK's default; the server
// then gzips its answers too). ESM's payloads are encrypted and do not compress, so on a network
// where bytes are cheap, off saves processor time at both ends (docs/BENCHMARKS.md).
func connection(gzip bool) client.ConnectionOptions {
	var o client.ConnectionOptions
	if !gzip {
		o.GrpcCompression = &client.GrpcCompressionNone{}
	}
	return o
}

func env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func withStore(ctx context.Context, cfg config, migrate bool, fn func(*store.Store) error) error {
	s, err := store.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer s.Close()
	if migrate {
		if err := s.Migrate(ctx); err != nil {
			return err
		}
	}
	return fn(s)
}

func catalogCmd(ctx context.Context, cfg config, args []string, out io.Writer) error {
	if len(args) == 0 || args[0] != "apply" {
		return errors.New("usage: esm catalog apply -f PATH...")
	}
	fs := flag.NewFlagSet("catalog apply", flag.ContinueOnError)
	var paths multiFlag
	fs.Var(&paths, "f", "a catalog file or directory (repeatable)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	paths = append(paths, fs.Args()...)
	if len(paths) == 0 {
		return errors.New("usage: esm catalog apply -f PATH...")
	}
	return withStore(ctx, cfg, true, func(s *store.Store) error {
		if err := applyCatalog(ctx, s, paths, out); err != nil {
			return err
		}
		// Tell the lifecycle workflows; a missing Temporal is not a failure of the apply.
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		tc, err := client.DialContext(cctx, client.Options{HostPort: cfg.Temporal, Namespace: cfg.Namespace, Logger: quietLogger{},
			DataConverter: cfg.Codec.DataConverter()})
		if err == nil {
			defer tc.Close()
			err = api.SyncLifecycles(cctx, tc, s)
		}
		if err != nil {
			fmt.Fprintf(out, "lifecycle workflows not synced (%v); esm dev or the next apply will\n", err)
		}
		return nil
	})
}

func applyCatalog(ctx context.Context, s *store.Store, paths []string, out io.Writer) error {
	known, err := s.Known(ctx)
	if err != nil {
		return err
	}
	b, err := catalog.LoadWith(known, paths...)
	if err != nil {
		return fmt.Errorf("the catalog was not applied:\n%w", err)
	}
	rep, err := s.ApplyBundle(ctx, b, time.Now())
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "catalog applied: %d departments, %d groups, %d people; %d services unchanged, %d new versions %v\n",
		rep.Departments, rep.Groups, rep.People, rep.Unchanged, len(rep.Versions), rep.Versions)
	if len(rep.Changes) > 0 {
		// Recorded only: the worker's sweep starts their DirectoryChange workflows (issue 22).
		fmt.Fprintf(out, "leavers and movers recorded: %v (the worker applies them to requests in flight within a minute)\n", rep.Changes)
	}
	return nil
}

type multiFlag []string

func (m *multiFlag) String() string     { return fmt.Sprint(*m) }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

func tokenCmd(ctx context.Context, cfg config, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("token", flag.ContinueOnError)
	ttl := fs.Duration("ttl", 24*time.Hour, "how long the token is valid")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return errors.New("usage: esm token [-ttl 24h] PERSON")
	}
	id := fs.Arg(0)
	return withStore(ctx, cfg, false, func(s *store.Store) error {
		if _, err := s.Person(ctx, id); err != nil {
			return fmt.Errorf("person %q: %w (apply the catalog first: esm catalog apply -f examples/)", id, err)
		}
		tok, err := api.IssueToken(cfg.Secret, id, time.Now(), *ttl)
		if err != nil {
			return err
		}
		fmt.Fprintln(out, tok)
		return nil
	})
}
