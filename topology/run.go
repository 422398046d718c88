package topology

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

// ReadyTimeout bounds how long Start and StartProcess wait for one process to be ready (a Once
// process: to finish).
var ReadyTimeout = 3 * time.Minute

// StopTimeout is how long Stop waits after the stop signal before it sends SIGKILL.
var StopTimeout = 30 * time.Second

// Topology is a running topology: its processes by name, each of which can be killed, stopped
// and started again. Safe for concurrent use.
type Topology struct {
	Spec *Spec
	// Log receives the runner's own lines (started, ready, exited); the processes' output goes
	// to Spec.Data/logs/<name>.log.
	Log io.Writer

	mu    sync.Mutex
	procs map[string]*proc
}

type proc struct {
	spec Process
	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{} // closed when cmd has exited
	err  error         // cmd's exit (after done)
	stop bool          // the runner stopped it: its exit is no news
}

// Start prepares the data directory (initdb of each cluster the first time, as the postgres
// user when root), then starts every process once those it depends on are ready, independent
// ones at the same time, and returns when all are ready. On failure it stops what it started and
// says which process failed and where its log is. ctx bounds the start only, not the processes'
// lives: Close ends those.
func Start(ctx context.Context, s *Spec, logw io.Writer) (*Topology, error) {
	if logw == nil {
		logw = io.Discard
	}
	t := &Topology{Spec: s, Log: logw, procs: map[string]*proc{}}
	for _, p := range s.Processes {
		t.procs[p.Name] = &proc{spec: p}
	}
	if err := os.MkdirAll(t.logDir(), 0o755); err != nil {
		return nil, err
	}
	for _, p := range s.Processes {
		for _, argv := range append([][]string{p.Command}, p.Then...) {
			bin := argv[0]
			if filepath.IsAbs(bin) || !strings.Contains(bin, "/") {
				continue
			}
			if _, err := os.Stat(filepath.Join(s.Root, bin)); err != nil {
				return nil, fmt.Errorf("topology: %s is missing (make topology builds it): %w", bin, err)
			}
		}
	}
	for _, c := range s.Clusters {
		if err := t.initCluster(ctx, c); err != nil {
			return nil, err
		}
	}
	ready := map[string]chan struct{}{}
	for _, p := range s.Processes {
		ready[p.Name] = make(chan struct{})
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var wg sync.WaitGroup
	for _, p := range s.Processes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, d := range p.DependsOn {
				select {
				case <-ready[d]:
				case <-ctx.Done():
					return
				}
			}
			if err := t.StartProcess(ctx, p.Name); err != nil {
				cancel(err)
				return
			}
			close(ready[p.Name])
		}()
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		t.Close()
		return nil, err
	}
	return t, nil
}

// Names lists the processes in start order.
func (t *Topology) Names() []string { return t.Spec.Names() }

// Addr is host:port of the named process's port role ("http", "grpc", "postgres", ...), or ""
// when it has no such port.
func (t *Topology) Addr(name, role string) string {
	p, ok := t.Spec.Process(name)
	if !ok || p.Ports[role] == 0 {
		return ""
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(p.Ports[role]))
}

// LogPath is the file a process writes its output to (appended on each start).
func (t *Topology) LogPath(name string) string { return filepath.Join(t.logDir(), name+".log") }

func (t *Topology) logDir() string { return filepath.Join(t.Spec.Data, "logs") }

func (t *Topology) get(name string) (*proc, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	p, ok := t.procs[name]
	if !ok {
		return nil, fmt.Errorf("topology: no process named %q (there are %s)", name, strings.Join(t.Names(), ", "))
	}
	return p, nil
}

// Running says whether the named process is running now.
func (t *Topology) Running(name string) bool {
	p, err := t.get(name)
	if err != nil {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.done == nil {
		return false
	}
	select {
	case <-p.done:
		return false
	default:
		return true
	}
}

// StartProcess starts the named process (again) and waits until it is ready: its health check
// passes, or, for a Once process, all its commands exited 0. A process already running is an
// error.
func (t *Topology) StartProcess(ctx context.Context, name string) error {
	p, err := t.get(name)
	if err != nil {
		return err
	}
	if t.Running(name) {
		return fmt.Errorf("topology: %s is already running", name)
	}
	ctx, cancel := context.WithTimeout(ctx, ReadyTimeout)
	defer cancel()
	cmds := append([][]string{p.spec.Command}, p.spec.Then...)
	var done <-chan struct{}
	for i, argv := range cmds {
		if done, err = t.spawn(p, argv); err != nil {
			return err
		}
		if !p.spec.Once {
			break
		}
		select {
		case <-done:
		case <-ctx.Done():
			_ = t.signal(p, syscall.SIGKILL)
			return fmt.Errorf("topology: %s (step %d of %d) did not finish in %s; see %s", name, i+1, len(cmds), ReadyTimeout, t.LogPath(name))
		}
		if err := p.exit(); err != nil {
			return fmt.Errorf("topology: %s failed (%s: %v); see %s", name, strings.Join(argv, " "), p.err, t.LogPath(name))
		}
	}
	if p.spec.Once {
		fmt.Fprintf(t.Log, "%-14s done\n", name)
		return nil
	}
	for {
		err := t.check(ctx, p.spec)
		if err == nil {
			fmt.Fprintf(t.Log, "%-14s ready\n", name)
			return nil
		}
		select {
		case <-done:
			return fmt.Errorf("topology: %s exited before it was ready (%v); see %s", name, exitText(p.exit()), t.LogPath(name))
		case <-ctx.Done():
			return fmt.Errorf("topology: %s was not ready in time (%v); see %s", name, err, t.LogPath(name))
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// Healthy runs the named process's health check once.
func (t *Topology) Healthy(ctx context.Context, name string) error {
	p, err := t.get(name)
	if err != nil {
		return err
	}
	return t.check(ctx, p.spec)
}

// Kill sends SIGKILL to the named process's whole process group (as a machine that dies would
// leave it) and waits for it to exit. It stays down until StartProcess.
func (t *Topology) Kill(name string) error { return t.halt(name, syscall.SIGKILL, 10*time.Second) }

// Stop asks the named process to stop (its StopSignal, SIGTERM unless told), waits up to
// StopTimeout, then kills it. It stays down until StartProcess.
func (t *Topology) Stop(name string) error {
	p, err := t.get(name)
	if err != nil {
		return err
	}
	sig := p.spec.StopSignal
	if sig == 0 {
		sig = syscall.SIGTERM
	}
	return t.halt(name, sig, StopTimeout)
}

// Restart stops the named process and starts it again, waiting until it is ready.
func (t *Topology) Restart(ctx context.Context, name string) error {
	if err := t.Stop(name); err != nil {
		return err
	}
	return t.StartProcess(ctx, name)
}

func (t *Topology) halt(name string, sig syscall.Signal, wait time.Duration) error {
	p, err := t.get(name)
	if err != nil {
		return err
	}
	p.mu.Lock()
	done := p.done
	if done != nil {
		p.stop = true
	}
	p.mu.Unlock()
	if done == nil {
		return nil
	}
	select {
	case <-done:
		return nil
	default:
	}
	_ = t.signal(p, sig)
	select {
	case <-done:
		return nil
	case <-time.After(wait):
	}
	_ = t.signal(p, syscall.SIGKILL)
	select {
	case <-done:
		return nil
	case <-time.After(10 * time.Second):
		return fmt.Errorf("topology: %s did not exit after SIGKILL", name)
	}
}

// signal sends sig to the process (SIGKILL: to its whole process group).
func (t *Topology) signal(p *proc, sig syscall.Signal) error {
	p.mu.Lock()
	cmd := p.cmd
	p.mu.Unlock()
	if cmd == nil || cmd.Process == nil {
		return nil
	}
	if sig == syscall.SIGKILL {
		return syscall.Kill(-cmd.Process.Pid, sig)
	}
	return cmd.Process.Signal(sig)
}

// Close stops every process, dependents before what they depend on (the reverse of the start
// order), and waits for each.
func (t *Topology) Close() error {
	names := t.Names()
	var errs []error
	for i := len(names) - 1; i >= 0; i-- {
		if err := t.Stop(names[i]); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// spawn starts one command of p, its output appended to p's log.
func (t *Topology) spawn(p *proc, argv []string) (<-chan struct{}, error) {
	logf, err := os.OpenFile(t.LogPath(p.spec.Name), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	bin := argv[0]
	if !filepath.IsAbs(bin) && strings.Contains(bin, "/") {
		bin = filepath.Join(t.Spec.Root, bin)
	}
	cmd := exec.Command(bin, argv[1:]...)
	cmd.Dir = t.Spec.Root
	if p.spec.Dir != "" {
		cmd.Dir = p.spec.Dir
	}
	cmd.Env = environ(p.spec.Env)
	cmd.Stdout, cmd.Stderr = logf, logf
	// Its own process group: Ctrl-C in the terminal reaches the runner only, which stops the
	// processes in order; SIGKILL reaches the process's children too. If the runner dies, so do
	// they.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if p.spec.User != "" && os.Geteuid() == 0 {
		cred, err := credential(p.spec.User)
		if err != nil {
			logf.Close()
			return nil, err
		}
		cmd.SysProcAttr.Credential = cred
		cmd.Env = append(cmd.Env, "USER="+p.spec.User)
	}
	fmt.Fprintf(logf, "=== %s topology: %s\n", time.Now().Format(time.RFC3339), strings.Join(argv, " "))
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, fmt.Errorf("topology: start %s: %w", p.spec.Name, err)
	}
	done := make(chan struct{})
	p.mu.Lock()
	p.cmd, p.done, p.err, p.stop = cmd, done, nil, false
	p.mu.Unlock()
	fmt.Fprintf(t.Log, "%-14s started (pid %d)\n", p.spec.Name, cmd.Process.Pid)
	go func() {
		err := cmd.Wait()
		logf.Close()
		p.mu.Lock()
		p.err = err
		expected := p.stop || (p.spec.Once && err == nil)
		p.mu.Unlock()
		close(done)
		if !expected {
			fmt.Fprintf(t.Log, "%-14s exited: %v (log %s)\n", p.spec.Name, exitText(err), t.LogPath(p.spec.Name))
		}
	}()
	return done, nil
}

// exit is how the last command ended (nil while it runs or when it exited 0).
func (p *proc) exit() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

func exitText(err error) string {
	if err == nil {
		return "status 0"
	}
	return err.Error()
}

// environ is a process's whole environment: PATH, HOME, TMPDIR and LANG from the runner's,
// then env.
func environ(env map[string]string) []string {
	var out []string
	for _, k := range []string{"PATH", "HOME", "TMPDIR", "LANG"} {
		if v, ok := os.LookupEnv(k); ok {
			out = append(out, k+"="+v)
		}
	}
	keys := make([]string, 0, len(env))
	for k := range env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		out = append(out, k+"="+env[k])
	}
	return out
}

func credential(name string) (*syscall.Credential, error) {
	u, err := user.Lookup(name)
	if err != nil {
		return nil, fmt.Errorf("topology: system user %s: %w", name, err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

// check runs a process's health check once.
func (t *Topology) check(ctx context.Context, p Process) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	h := p.Health
	switch h.Kind {
	case HealthNone:
		return nil
	case HealthPostgres:
		host, port, _ := net.SplitHostPort(h.Addr)
		out, err := exec.CommandContext(ctx, filepath.Join(t.Spec.PGBin, "pg_isready"), "-h", host, "-p", port, "-U", "postgres", "-d", "postgres").CombinedOutput()
		if err != nil {
			return fmt.Errorf("pg_isready: %s", strings.TrimSpace(string(out)))
		}
		return nil
	case HealthGRPC:
		conn, err := grpc.NewClient(h.Addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			return err
		}
		defer conn.Close()
		resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{Service: h.Service})
		if err != nil {
			return err
		}
		if resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			return fmt.Errorf("%s: %s", h.Service, resp.GetStatus())
		}
		return nil
	case HealthHTTP, HealthHTTPS:
		scheme, client := "http", http.DefaultClient
		if h.Kind == HealthHTTPS {
			pool, err := CertPool(h.CA)
			if err != nil {
				return err
			}
			scheme = "https"
			client = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
			defer client.CloseIdleConnections()
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, scheme+"://"+h.Addr+h.Path, nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("GET %s: %d %s", h.Path, resp.StatusCode, strings.TrimSpace(string(body)))
		}
		return nil
	}
	return fmt.Errorf("topology: %s has an unknown health check kind %q", p.Name, h.Kind)
}

// initCluster runs initdb into c.Dir unless it holds a cluster already, then creates c's
// databases in single-user mode (no server, no port). As root, both run as the postgres user,
// and the directories leading to c.Dir must let that user through.
func (t *Topology) initCluster(ctx context.Context, c Cluster) error {
	if _, err := os.Stat(filepath.Join(c.Dir, "PG_VERSION")); err == nil {
		return nil
	}
	var cred *syscall.Credential
	if os.Geteuid() == 0 {
		var err error
		if cred, err = credential("postgres"); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(c.Dir, 0o700); err != nil {
		return err
	}
	if cred != nil {
		if err := os.Chown(c.Dir, int(cred.Uid), int(cred.Gid)); err != nil {
			return err
		}
		if err := reachable(c.Dir); err != nil {
			return err
		}
	}
	logf, err := os.OpenFile(t.LogPath(c.Name), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	run := func(stdin string, argv ...string) error {
		fmt.Fprintf(logf, "=== %s topology: %s\n", time.Now().Format(time.RFC3339), strings.Join(argv, " "))
		cmd := exec.CommandContext(ctx, filepath.Join(t.Spec.PGBin, argv[0]), argv[1:]...)
		cmd.Dir = c.Dir
		cmd.Env = environ(map[string]string{"LC_ALL": "C.UTF-8"})
		cmd.Stdout, cmd.Stderr = logf, logf
		cmd.Stdin = strings.NewReader(stdin)
		if cred != nil {
			cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
		}
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("topology: %s for %s: %w; see %s", argv[0], c.Name, err, t.LogPath(c.Name))
		}
		return nil
	}
	fmt.Fprintf(t.Log, "%-14s initdb %s\n", c.Name, c.Dir)
	if err := run("", "initdb", "-D", c.Dir, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-instructions"); err != nil {
		return err
	}
	for _, db := range c.Databases {
		if err := run(fmt.Sprintf("CREATE DATABASE %q;\n", db), "postgres", "--single", "-D", c.Dir, "-j", "postgres"); err != nil {
			return err
		}
	}
	return nil
}

// reachable makes every directory above dir searchable by others (o+x), as the postgres user
// needs to reach its cluster under a root-owned tree.
func reachable(dir string) error {
	for d := filepath.Dir(dir); d != "/" && d != "."; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil {
			return err
		}
		if fi.Mode().Perm()&0o001 == 0 {
			if err := os.Chmod(d, fi.Mode().Perm()|0o001); err != nil {
				return fmt.Errorf("topology: the postgres user cannot reach %s: %w", d, err)
			}
		}
	}
	return nil
}
