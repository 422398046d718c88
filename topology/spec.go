// Package topology describes ESM's production topology as data and runs it on one machine
// without containers: Postgres clusters of its own (one for Temporal, one for ESM's read model),
// the real Temporal server (go.temporal.io/server, Postgres persistence and SQL visibility), the
// setup steps (schemas, namespace and search attributes, ESM's migrations and catalog), two
// `esm api` and two `esm worker` processes, the development identity provider (`esm idp`), an
// `esm api` serving HTTPS with a certificate the topology makes, and the Temporal UI server signing
// in through the identity provider and decoding payloads with that API's codec.
//
// Plan returns the topology as a list of Process values (name, command, environment, ports,
// dependencies, health check): `esm topology` (make topology) runs it with Start, the fault test
// (make test-topology) starts it from Go and kills, stops and restarts single processes by name,
// and the docker-compose test compares docker-compose.yml with the same list. Process names are
// the constants below.
package topology

import (
	crand "crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"github.com/esmhq/esm/codec"
)

// Process names. The API and worker replicas are numbered from 1: APIName(1) is "esm-api-1".
const (
	PGTemporal     = "pg-temporal"     // Postgres cluster holding Temporal's two databases
	PGESM          = "pg-esm"          // Postgres cluster holding ESM's catalog and read model
	TemporalSchema = "temporal-schema" // once: creates and migrates Temporal's two schemas
	Temporal       = "temporal"        // the Temporal server, all four services in one process
	ESMSetup       = "esm-setup"       // once: esm setup (namespace, search attributes)
	ESMMigrate     = "esm-migrate"     // once: esm migrate
	ESMCatalog     = "esm-catalog"     // once: esm catalog apply -f examples (as make run does)
	Hooks          = "hooks"           // the example catalog's automation endpoint (esm hooks)
	IDP            = "idp"             // esm idp: the development OpenID provider (UI, portal)
	APIHTTPS       = "esm-api-https"   // esm api over HTTPS: the Temporal UI's codec endpoint
	TemporalUI     = "temporal-ui"     // the Temporal UI server: sign-in at idp, codec at esm-api-https
)

// Client ids registered at the identity provider.
const (
	UIClientID     = "temporal-ui" // the Temporal UI server's client (deploy/temporal-ui)
	PortalClientID = "esm-portal"  // every API's portal sign-in (ESM_OIDC_CLIENT_ID)
)

// APIName is the name of the i-th esm api replica (from 1).
func APIName(i int) string { return fmt.Sprintf("esm-api-%d", i) }

// WorkerName is the name of the i-th esm worker replica (from 1).
func WorkerName(i int) string { return fmt.Sprintf("esm-worker-%d", i) }

// Health kinds.
const (
	HealthNone     = ""         // ready once started (a Once process: once it exited 0)
	HealthPostgres = "postgres" // pg_isready -h Host -p Port answers "accepting connections"
	HealthGRPC     = "grpc"     // the gRPC health service at Addr says SERVING for Service
	HealthHTTP     = "http"     // GET http://Addr+Path answers 200
	HealthHTTPS    = "https"    // GET https://Addr+Path answers 200, the server's certificate signed by CA
)

// Health is how the runner knows a process is ready for its dependents.
type Health struct {
	Kind    string
	Addr    string // host:port
	Path    string // HTTP: the path, e.g. /readyz
	Service string // gRPC: the service name asked about
	CA      string // HTTPS: the PEM file of the CA to trust (the topology's own, Spec.TLS.CA)
}

// Process is one process of the topology, as data.
type Process struct {
	Name string
	// Command is the argv; a relative Command[0] containing a slash (bin/esm) is under the
	// repository root, a bare name is looked up in PATH.
	Command []string
	// Then, for a Once process only, are further commands run in order after Command.
	Then [][]string
	// Env is the whole environment beyond PATH, HOME, TMPDIR and LANG: a process inherits
	// nothing else from the runner's environment (no stray DATABASE_URL).
	Env map[string]string
	// Ports are the ports the process listens on, by role ("grpc", "http", ...).
	Ports map[string]int
	// DependsOn are processes that must be ready (a Once process: have exited 0) first.
	DependsOn []string
	// Once marks a setup step: it runs to completion, and its dependents wait for exit 0.
	Once bool
	// User, when the runner is root, is the system user the process runs as ("postgres":
	// initdb and postgres refuse root). Ignored when the runner is not root.
	User string
	// StopSignal asks the process to stop (default SIGTERM; Postgres: SIGINT, fast shutdown,
	// since SIGTERM waits for every client to disconnect).
	StopSignal syscall.Signal
	Health     Health
	// Dir is the working directory (default the repository root).
	Dir string
}

// Cluster is a Postgres cluster of the topology's own: Start runs initdb into Dir (trust
// authentication, superuser postgres) the first time, creating Databases, and its Process
// (same Name) runs postgres on 127.0.0.1:Port with its unix socket in Dir.
type Cluster struct {
	Name      string
	Dir       string
	Port      int
	Databases []string
}

// Spec is a planned topology: what Start runs.
type Spec struct {
	Root      string // the repository root: bin/, deploy/, examples/
	Data      string // where the clusters, logs and secrets live (default Root/.data/topology)
	PGBin     string // the directory of initdb, postgres and pg_isready
	Clusters  []Cluster
	Processes []Process
	// Secrets are ESM_JWT_SECRET, ESM_PAYLOAD_KEYS, ESM_WEBHOOK_SECRET, ESM_SESSION_SECRET (the
	// portal's cookies), ESM_OIDC_CLIENT_SECRET (the portal's client at the idp) and
	// ESM_IDP_UI_CLIENT_SECRET (the Temporal UI's), kept in Data/secrets.env so that a second
	// start decrypts what the first one wrote.
	Secrets map[string]string
	// TLS is the certificate esm-api-https serves, made by Plan into Data/tls the first time.
	TLS TLS
}

// Options shape Plan.
type Options struct {
	Root    string // repository root (required)
	Data    string // default Root/.data/topology
	APIs    int    // esm api replicas (default 2)
	Workers int    // esm worker replicas (default 2)
	// HooksURL, when set, is where the example catalog's automated tasks go (a test's own sink):
	// no hooks process runs. Otherwise the hooks process serves examples/hooks.
	HooksURL string
	// Port returns a port to listen on; default FreePort (and, for Temporal's membership ports,
	// a free one below 32768). A test of docker-compose.yml may pass a fixed sequence: then
	// every port comes from it, and the membership ports must be below 32768.
	Port func() (int, error)
	// PGBin is the directory of initdb, postgres and pg_isready (default the newest
	// /usr/lib/postgresql/*/bin, or the directory of pg_ctl in PATH).
	PGBin string
}

// lowPort returns a port below 32768 that is free now (tried at random from 20000) and
// not handed out before by this process.
func lowPort() (int, error) {
	lowMu.Lock()
	defer lowMu.Unlock()
	for range 200 {
		p := 20000 + rand.IntN(12768)
		if lowUsed[p] {
			continue
		}
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err != nil {
			continue
		}
		l.Close()
		lowUsed[p] = true
		return p, nil
	}
	return 0, errors.New("topology: no free port between 20000 and 32767")
}

var (
	lowMu   sync.Mutex
	lowUsed = map[int]bool{}
)

// FreePort asks the kernel for a free TCP port on 127.0.0.1.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// Plan lays out the topology: ports (free now), data directories, secrets (read from
// Data/secrets.env, or made and written there the first time) and every process.
func Plan(o Options) (*Spec, error) {
	if o.Root == "" {
		return nil, errors.New("topology: Options.Root (the repository root) is required")
	}
	root, err := filepath.Abs(o.Root)
	if err != nil {
		return nil, err
	}
	data := o.Data
	if data == "" {
		data = filepath.Join(root, ".data", "topology")
	}
	if data, err = filepath.Abs(data); err != nil {
		return nil, err
	}
	if o.APIs == 0 {
		o.APIs = 2
	}
	if o.Workers == 0 {
		o.Workers = 2
	}
	if o.APIs < 1 || o.Workers < 1 {
		return nil, fmt.Errorf("topology: at least one API and one worker (APIs %d, Workers %d)", o.APIs, o.Workers)
	}
	port, low := o.Port, o.Port
	if port == nil {
		port, low = uniquePorts(FreePort), lowPort
	}
	pgbin := o.PGBin
	if pgbin == "" {
		if pgbin, err = findPGBin(); err != nil {
			return nil, err
		}
	}
	secrets, err := loadSecrets(filepath.Join(data, "secrets.env"))
	if err != nil {
		return nil, err
	}
	tlsFiles, err := ensureTLS(filepath.Join(data, "tls"))
	if err != nil {
		return nil, err
	}
	s := &Spec{Root: root, Data: data, PGBin: pgbin, Secrets: secrets, TLS: tlsFiles}
	ports := func(names ...string) (map[string]int, error) {
		m := map[string]int{}
		for _, n := range names {
			p, err := port()
			if err != nil {
				return nil, fmt.Errorf("topology: a free port: %w", err)
			}
			m[n] = p
		}
		return m, nil
	}
	const host = "127.0.0.1"
	addr := func(p int) string { return net.JoinHostPort(host, strconv.Itoa(p)) }

	// The two Postgres clusters.
	pgPorts := map[string]int{}
	for _, c := range []struct {
		name string
		dbs  []string
	}{{PGTemporal, []string{"temporal", "temporal_visibility"}}, {PGESM, []string{"esm"}}} {
		pp, err := ports("postgres")
		if err != nil {
			return nil, err
		}
		dir := filepath.Join(data, c.name)
		pgPorts[c.name] = pp["postgres"]
		s.Clusters = append(s.Clusters, Cluster{Name: c.name, Dir: dir, Port: pp["postgres"], Databases: c.dbs})
		s.Processes = append(s.Processes, Process{
			Name:       c.name,
			Command:    []string{filepath.Join(pgbin, "postgres"), "-D", dir, "-p", strconv.Itoa(pp["postgres"]), "-k", dir, "-c", "listen_addresses=" + host},
			Env:        map[string]string{},
			Ports:      pp,
			User:       "postgres",
			StopSignal: syscall.SIGINT,
			Health:     Health{Kind: HealthPostgres, Addr: addr(pp["postgres"])},
			Dir:        dir,
		})
	}

	// Temporal's schemas, then the server.
	sql := func(db string, args ...string) []string {
		return append([]string{"bin/temporal-sql-tool", "--plugin", "postgres12", "--ep", host,
			"-p", strconv.Itoa(pgPorts[PGTemporal]), "-u", "postgres", "--db", db}, args...)
	}
	s.Processes = append(s.Processes, Process{
		Name:    TemporalSchema,
		Command: sql("temporal", "setup-schema", "-v", "0.0"),
		Then: [][]string{
			sql("temporal", "update-schema", "--schema-name", "postgresql/v12/temporal"),
			sql("temporal_visibility", "setup-schema", "-v", "0.0"),
			sql("temporal_visibility", "update-schema", "--schema-name", "postgresql/v12/visibility"),
		},
		Env:       map[string]string{},
		DependsOn: []string{PGTemporal},
		Once:      true,
	})
	tp, err := ports("grpc", "http", "history", "matching", "worker", "metrics")
	if err != nil {
		return nil, err
	}
	// Temporal's cluster_membership table keeps a membership port as a smallint: one above
	// 32767 (where the kernel hands out free ports) stops the server at start
	// ("value out of range for type smallint").
	for _, role := range []string{"membership-frontend", "membership-history", "membership-matching", "membership-worker"} {
		if tp[role], err = low(); err != nil {
			return nil, err
		}
	}
	temporalAddr := addr(tp["grpc"])
	s.Processes = append(s.Processes, Process{
		Name:    Temporal,
		Command: []string{"bin/temporal-server", "--root", "deploy/temporal", "--config", "config", "--env", "esm", "--allow-no-auth", "start"},
		Env: map[string]string{
			"TEMPORAL_DB_HOST":                  host,
			"TEMPORAL_DB_PORT":                  strconv.Itoa(pgPorts[PGTemporal]),
			"TEMPORAL_DB_USER":                  "postgres",
			"TEMPORAL_BIND_IP":                  host,
			"TEMPORAL_FRONTEND_PORT":            strconv.Itoa(tp["grpc"]),
			"TEMPORAL_FRONTEND_HTTP_PORT":       strconv.Itoa(tp["http"]),
			"TEMPORAL_HISTORY_PORT":             strconv.Itoa(tp["history"]),
			"TEMPORAL_MATCHING_PORT":            strconv.Itoa(tp["matching"]),
			"TEMPORAL_WORKER_PORT":              strconv.Itoa(tp["worker"]),
			"TEMPORAL_FRONTEND_MEMBERSHIP_PORT": strconv.Itoa(tp["membership-frontend"]),
			"TEMPORAL_HISTORY_MEMBERSHIP_PORT":  strconv.Itoa(tp["membership-history"]),
			"TEMPORAL_MATCHING_MEMBERSHIP_PORT": strconv.Itoa(tp["membership-matching"]),
			"TEMPORAL_WORKER_MEMBERSHIP_PORT":   strconv.Itoa(tp["membership-worker"]),
			"TEMPORAL_METRICS_PORT":             strconv.Itoa(tp["metrics"]),
			"TEMPORAL_DYNAMIC_CONFIG":           filepath.Join(root, "deploy", "temporal", "dynamicconfig", "esm.yaml"),
		},
		Ports:     tp,
		DependsOn: []string{TemporalSchema},
		Health:    Health{Kind: HealthGRPC, Addr: temporalAddr, Service: "temporal.api.workflowservice.v1.WorkflowService"},
	})

	// ESM: what every esm process shares.
	databaseURL := fmt.Sprintf("postgres://postgres@%s/esm?sslmode=disable", addr(pgPorts[PGESM]))
	hooksURL := o.HooksURL
	var hookPorts map[string]int
	if hooksURL == "" {
		if hookPorts, err = ports("http"); err != nil {
			return nil, err
		}
		hooksURL = "http://" + addr(hookPorts["http"]) + "/hooks"
	}
	esmEnv := func(extra map[string]string) map[string]string {
		m := map[string]string{
			"DATABASE_URL":       databaseURL,
			"TEMPORAL_ADDRESS":   temporalAddr,
			"TEMPORAL_NAMESPACE": "default",
			"ESM_LOG_FORMAT":     "json",
			"ESM_PAYLOAD_KEYS":   secrets["ESM_PAYLOAD_KEYS"],
			"ESM_JWT_SECRET":     secrets["ESM_JWT_SECRET"],
			"ESM_WEBHOOK_SECRET": secrets["ESM_WEBHOOK_SECRET"],
			"ESM_HOOKS_URL":      hooksURL,
		}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	s.Processes = append(s.Processes,
		Process{Name: ESMSetup, Command: []string{"bin/esm", "setup"}, Env: esmEnv(nil), DependsOn: []string{Temporal}, Once: true},
		Process{Name: ESMMigrate, Command: []string{"bin/esm", "migrate"}, Env: esmEnv(nil), DependsOn: []string{PGESM}, Once: true},
	)
	if hookPorts != nil {
		s.Processes = append(s.Processes, Process{
			Name: Hooks, Command: []string{"bin/esm", "hooks"},
			Env:    map[string]string{"ESM_HOOKS_ADDR": addr(hookPorts["http"]), "ESM_WEBHOOK_SECRET": secrets["ESM_WEBHOOK_SECRET"], "ESM_LOG_FORMAT": "json"},
			Ports:  hookPorts,
			Health: Health{Kind: HealthHTTP, Addr: addr(hookPorts["http"]), Path: "/healthz"},
		})
	}
	for i := 1; i <= o.Workers; i++ {
		wp, err := ports("metrics")
		if err != nil {
			return nil, err
		}
		deps := []string{ESMMigrate, ESMSetup}
		if hookPorts != nil {
			deps = append(deps, Hooks)
		}
		s.Processes = append(s.Processes, Process{
			Name: WorkerName(i), Command: []string{"bin/esm", "worker"},
			Env:       esmEnv(map[string]string{"ESM_METRICS_ADDR": addr(wp["metrics"])}),
			Ports:     wp,
			DependsOn: deps,
			Health:    Health{Kind: HealthHTTP, Addr: addr(wp["metrics"]), Path: "/metrics"},
		})
	}
	// The catalog apply also starts each service's lifecycle workflow and asks it its state: a
	// worker must be there to answer.
	catalogDeps := []string{ESMMigrate, ESMSetup}
	for i := 1; i <= o.Workers; i++ {
		catalogDeps = append(catalogDeps, WorkerName(i))
	}
	s.Processes = append(s.Processes, Process{Name: ESMCatalog, Command: []string{"bin/esm", "catalog", "apply", "-f", "examples"},
		Env: esmEnv(nil), DependsOn: catalogDeps, Once: true})
	// The identity provider, the APIs (the idp's tokens and ESM's own HS256 ones, the portal's
	// sign-in at the idp), the HTTPS API and the Temporal UI server. Their ports first: the idp
	// registers each redirect URI, and every API names the UI's origin (the codec's CORS).
	idpPorts, err := ports("http")
	if err != nil {
		return nil, err
	}
	apiPorts := make([]map[string]int, o.APIs)
	for i := range apiPorts {
		if apiPorts[i], err = ports("http"); err != nil {
			return nil, err
		}
	}
	httpsPorts, err := ports("https")
	if err != nil {
		return nil, err
	}
	uiPorts, err := ports("http")
	if err != nil {
		return nil, err
	}
	idpURL := "http://" + addr(idpPorts["http"])
	uiOrigin := "http://" + addr(uiPorts["http"])
	httpsURL := "https://" + addr(httpsPorts["https"])
	var portals []string
	for _, ap := range apiPorts {
		portals = append(portals, "http://"+addr(ap["http"]))
	}
	portals = append(portals, httpsURL)
	s.Processes = append(s.Processes, Process{
		Name: IDP, Command: []string{"bin/esm", "idp", "-addr", addr(idpPorts["http"]), "-ui", uiOrigin, "-portal", strings.Join(portals, ",")},
		Env: map[string]string{
			"DATABASE_URL":             databaseURL,
			"ESM_LOG_FORMAT":           "json",
			"ESM_JWT_AUDIENCE":         "esm",
			"ESM_IDP_UI_CLIENT_ID":     UIClientID,
			"ESM_IDP_UI_CLIENT_SECRET": secrets["ESM_IDP_UI_CLIENT_SECRET"],
			"ESM_OIDC_CLIENT_ID":       PortalClientID,
			"ESM_OIDC_CLIENT_SECRET":   secrets["ESM_OIDC_CLIENT_SECRET"],
		},
		Ports:     idpPorts,
		DependsOn: []string{ESMMigrate},
		Health:    Health{Kind: HealthHTTP, Addr: addr(idpPorts["http"]), Path: "/.well-known/openid-configuration"},
	})
	apiEnv := func(portal string, extra map[string]string) map[string]string {
		m := map[string]string{
			"ESM_JWKS":               idpURL + "/keys",
			"ESM_JWT_ISSUER":         idpURL,
			"ESM_JWT_AUDIENCE":       "esm",
			"ESM_UI_ORIGIN":          uiOrigin,
			"ESM_OIDC_CLIENT_ID":     PortalClientID,
			"ESM_OIDC_CLIENT_SECRET": secrets["ESM_OIDC_CLIENT_SECRET"],
			"ESM_SESSION_SECRET":     secrets["ESM_SESSION_SECRET"],
			"ESM_PORTAL_URL":         portal, // the sign-in's redirect: <it>/portal/auth/callback
		}
		for k, v := range extra {
			m[k] = v
		}
		return esmEnv(m)
	}
	for i, ap := range apiPorts {
		s.Processes = append(s.Processes, Process{
			Name: APIName(i + 1), Command: []string{"bin/esm", "api"},
			Env:       apiEnv("http://"+addr(ap["http"]), map[string]string{"ESM_ADDR": addr(ap["http"])}),
			Ports:     ap,
			DependsOn: []string{ESMCatalog, IDP},
			Health:    Health{Kind: HealthHTTP, Addr: addr(ap["http"]), Path: "/readyz"},
		})
	}
	// The Temporal UI sends the signed-in person's access token only to an https codec.
	s.Processes = append(s.Processes, Process{
		Name: APIHTTPS, Command: []string{"bin/esm", "api"},
		Env: apiEnv(httpsURL, map[string]string{"ESM_ADDR": addr(httpsPorts["https"]),
			"ESM_TLS_CERT": tlsFiles.Cert, "ESM_TLS_KEY": tlsFiles.Key}),
		Ports:     httpsPorts,
		DependsOn: []string{ESMCatalog, IDP},
		Health:    Health{Kind: HealthHTTPS, Addr: addr(httpsPorts["https"]), Path: "/readyz", CA: tlsFiles.CA},
	})
	s.Processes = append(s.Processes, Process{
		Name:    TemporalUI,
		Command: []string{"bin/temporal-ui-server", "--root", "deploy/temporal-ui", "--env", "esm", "start"},
		Env: map[string]string{
			"TEMPORAL_ADDRESS":              temporalAddr,
			"TEMPORAL_NAMESPACE":            "default",
			"TEMPORAL_UI_HOST":              host,
			"TEMPORAL_UI_PORT":              strconv.Itoa(uiPorts["http"]),
			"ESM_UI_ORIGIN":                 uiOrigin,
			"TEMPORAL_CSRF_COOKIE_INSECURE": "true", // the UI is plain http on the loopback
			"TEMPORAL_AUTH_PROVIDER_URL":    idpURL,
			"TEMPORAL_AUTH_CLIENT_ID":       UIClientID,
			"TEMPORAL_AUTH_CLIENT_SECRET":   secrets["ESM_IDP_UI_CLIENT_SECRET"],
			"TEMPORAL_CODEC_ENDPOINT":       httpsURL + "/codec",
		},
		Ports:     uiPorts,
		DependsOn: []string{Temporal, IDP, APIHTTPS},
		Health:    Health{Kind: HealthHTTP, Addr: addr(uiPorts["http"]), Path: "/healthz"},
	})
	// More processes are added here, or by a caller with Spec.Add before Start.
	return s, s.check()
}

// Add appends a process to the topology (before Start); its DependsOn must name processes
// already there.
func (s *Spec) Add(p Process) error {
	s.Processes = append(s.Processes, p)
	if err := s.check(); err != nil {
		s.Processes = s.Processes[:len(s.Processes)-1]
		return err
	}
	return nil
}

// Process returns the named process, and whether there is one.
func (s *Spec) Process(name string) (Process, bool) {
	for _, p := range s.Processes {
		if p.Name == name {
			return p, true
		}
	}
	return Process{}, false
}

// Names lists the processes in start order.
func (s *Spec) Names() []string {
	out := make([]string, len(s.Processes))
	for i, p := range s.Processes {
		out[i] = p.Name
	}
	return out
}

// check: unique names, dependencies on processes listed before, unique ports.
func (s *Spec) check() error {
	seen := map[string]bool{}
	ports := map[int]string{}
	for _, p := range s.Processes {
		if p.Name == "" || len(p.Command) == 0 {
			return fmt.Errorf("topology: a process needs a name and a command (%q)", p.Name)
		}
		if seen[p.Name] {
			return fmt.Errorf("topology: two processes named %q", p.Name)
		}
		for _, d := range p.DependsOn {
			if !seen[d] {
				return fmt.Errorf("topology: %s depends on %q, which is not listed before it", p.Name, d)
			}
		}
		if len(p.Then) > 0 && !p.Once {
			return fmt.Errorf("topology: %s has Then commands but is not Once", p.Name)
		}
		seen[p.Name] = true
		for role, n := range p.Ports {
			if other, ok := ports[n]; ok {
				return fmt.Errorf("topology: port %d is both %s and %s:%s", n, other, p.Name, role)
			}
			ports[n] = p.Name + ":" + role
		}
	}
	return nil
}

// uniquePorts wraps a port source so that it never returns the same port twice in one plan
// (the kernel may hand out a port again once its listener is closed).
func uniquePorts(next func() (int, error)) func() (int, error) {
	used := map[int]bool{}
	return func() (int, error) {
		for range 100 {
			p, err := next()
			if err != nil {
				return 0, err
			}
			if !used[p] {
				used[p] = true
				return p, nil
			}
		}
		return 0, errors.New("no new free port after 100 tries")
	}
}

// findPGBin finds the newest /usr/lib/postgresql/*/bin with initdb, or the directory of pg_ctl
// in PATH.
func findPGBin() (string, error) {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return pgVersion(dirs[i]) > pgVersion(dirs[j]) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d, nil
		}
	}
	for _, d := range filepath.SplitList(os.Getenv("PATH")) {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d, nil
		}
	}
	return "", errors.New("topology: no Postgres server binaries (initdb) in /usr/lib/postgresql/*/bin or PATH: apt-get install postgresql")
}

func pgVersion(dir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(dir)))
	return n
}

// loadSecrets reads KEY=VALUE lines from path, making and writing there the ones missing.
func loadSecrets(path string) (map[string]string, error) {
	m := map[string]string{}
	b, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(strings.TrimSpace(line), "="); ok && !strings.HasPrefix(k, "#") {
			m[k] = v
		}
	}
	changed := false
	for k, make := range map[string]func() string{
		"ESM_PAYLOAD_KEYS":   func() string { return codec.NewKey("topology") },
		"ESM_JWT_SECRET":     func() string { return randomSecret() },
		"ESM_WEBHOOK_SECRET": func() string { return randomSecret() },
		"ESM_SESSION_SECRET": func() string { return randomSecret() },
		// In deploy/temporal-ui's config, which the UI server renders with html/template: hex,
		// nothing it would escape.
		"ESM_IDP_UI_CLIENT_SECRET": func() string { return hexSecret() },
		"ESM_OIDC_CLIENT_SECRET":   func() string { return hexSecret() },
	} {
		if m[k] == "" {
			m[k] = make()
			changed = true
		}
	}
	if !changed {
		return m, nil
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, err
	}
	var sb strings.Builder
	sb.WriteString("# The topology's secrets (esm topology made them): the payload key decrypts what Temporal holds.\n")
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Fprintf(&sb, "%s=%s\n", k, m[k])
	}
	return m, os.WriteFile(path, []byte(sb.String()), 0o600)
}

func hexSecret() string {
	b := make([]byte, 32)
	if _, err := crand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

func randomSecret() string {
	k := codec.NewKey("x") // 32 random bytes, base64
	return k[2:]
}
