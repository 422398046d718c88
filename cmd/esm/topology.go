package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/esmhq/esm/topology"
)

// topologyCmd is `esm topology` (make topology): the production topology of topology.Plan on this
// machine, run from the repository root (bin/, deploy/, examples/), its data under
// .data/topology. It prints where each process is and its log, then waits; Ctrl-C (or SIGTERM)
// stops every process, dependents first.
func topologyCmd(ctx context.Context, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("topology", flag.ContinueOnError)
	apis := fs.Int("apis", 2, "esm api replicas")
	workers := fs.Int("workers", 2, "esm worker replicas")
	data := fs.String("data", filepath.Join(".data", "topology"), "where the clusters, logs and secrets live")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return errors.New("usage: esm topology [-apis 2] [-workers 2] [-data .data/topology]")
	}
	root, err := os.Getwd()
	if err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(root, "deploy", "temporal", "config", "esm.yaml")); err != nil {
		return errors.New("run esm topology from the repository's root (it needs bin/, deploy/ and examples/): make topology")
	}
	spec, err := topology.Plan(topology.Options{Root: root, Data: *data, APIs: *apis, Workers: *workers})
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "starting the topology in %s (logs in %s)\n", spec.Data, filepath.Join(spec.Data, "logs"))
	t, err := topology.Start(ctx, spec, out)
	if err != nil {
		return err
	}
	printTopology(t, out)
	<-ctx.Done()
	fmt.Fprintln(out, "stopping the topology")
	stopped := make(chan error, 1)
	go func() { stopped <- t.Close() }()
	select {
	case err := <-stopped:
		if err == nil {
			fmt.Fprintln(out, "stopped")
		}
		return err
	case <-time.After(2 * time.Minute):
		return errors.New("the topology did not stop in 2 minutes")
	}
}

// printTopology says where each process is, and how to reach the API.
func printTopology(t *topology.Topology, out io.Writer) {
	fmt.Fprintln(out, "\nESM's production topology is up:")
	for _, p := range t.Spec.Processes {
		if p.Once {
			continue
		}
		where := ""
		switch p.Health.Kind {
		case topology.HealthHTTP:
			where = "http://" + p.Health.Addr
		case topology.HealthHTTPS:
			where = "https://" + p.Health.Addr
		case topology.HealthGRPC:
			where = "grpc " + p.Health.Addr
		case topology.HealthPostgres:
			where = fmt.Sprintf("postgres://postgres@%s (socket in %s)", p.Health.Addr, p.Dir)
		}
		fmt.Fprintf(out, "  %-14s %-52s log %s\n", p.Name, where, t.LogPath(p.Name))
	}
	api1, _ := t.Spec.Process(topology.APIName(1))
	fmt.Fprintf(out, `
The identity provider (development only): http://%[5]s; sign in with a person id as user name
and as password (oscar is an operator, alice is not).
The Temporal UI: http://%[6]s (signs in at the identity provider; an operator reads payloads
  decoded by https://%[7]s/codec, whose certificate's CA is %[8]s: trust it in
  the browser, or the UI shows payloads encoded)
The portal and API: http://%[1]s/portal (signs in at the identity provider)
A token for alice, then her requests:
  set -a; . %[2]s; set +a
  TOKEN=$(DATABASE_URL='%[3]s' bin/esm token alice)
  curl -H "Authorization: Bearer $TOKEN" http://%[1]s/v1/requests
Temporal: TEMPORAL_ADDRESS=%[4]s bin/temporal workflow list
Ctrl-C stops all of it.
`, t.Addr(topology.APIName(1), "http"), filepath.Join(t.Spec.Data, "secrets.env"), api1.Env["DATABASE_URL"], t.Addr(topology.Temporal, "grpc"),
		t.Addr(topology.IDP, "http"), t.Addr(topology.TemporalUI, "http"), t.Addr(topology.APIHTTPS, "https"), t.Spec.TLS.CA)
}
