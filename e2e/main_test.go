// Package e2e drives ESM end to end: a real Temporal dev server (bin/temporal), real databases
// (SQLite always, Postgres when DATABASE_URL is set), the real API over HTTP and the real worker.
package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/esmhq/esm/workflows"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/testsuite"
)

// devServer is shared by every test of the package. Each env takes a namespace of its own, as
// a fresh installation would have, so request numbers (and so workflow ids) of two envs never
// meet.
var devServer *testsuite.DevServer

const namespaces = 100

var nextNamespace atomic.Int32

// freshNamespace hands out the next unused namespace.
func freshNamespace(t testing.TB) string {
	n := nextNamespace.Add(1)
	if n > namespaces {
		t.Fatalf("e2e: more than %d envs: raise namespaces in main_test.go", namespaces)
	}
	return fmt.Sprintf("e2e-%d", n)
}

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	bin, err := filepath.Abs(filepath.Join("..", "bin", "temporal"))
	if err == nil {
		_, err = os.Stat(bin)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e: bin/temporal is missing: run `make build` (make test does)")
		return 1
	}
	args := workflows.SearchAttributeFlags()
	for i := 1; i <= namespaces; i++ {
		args = append(args, "--namespace", fmt.Sprintf("e2e-%d", i))
	}
	// No UI: the browser test drives the one esm dev starts (cmd/esm/ui_test.go).
	devServer, err = testsuite.StartDevServer(context.Background(), testsuite.DevServerOptions{
		ExistingPath:  bin,
		ClientOptions: &client.Options{Namespace: "default"},
		LogLevel:      "error",
		ExtraArgs:     args,
		Stdout:        os.Stderr,
		Stderr:        os.Stderr,
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "e2e: start dev server:", err)
		return 1
	}
	code := m.Run()
	if code == 0 {
		n, err := replayEverything(context.Background(), os.Getenv("ESM_RECORD_HISTORIES"))
		if err != nil {
			fmt.Fprintln(os.Stderr, "e2e: replay:", err)
			code = 1
		} else if testing.Verbose() {
			fmt.Fprintf(os.Stderr, "e2e: replayed %d workflow histories against the code\n", n)
		}
	}
	if err := devServer.Stop(); err != nil {
		fmt.Fprintln(os.Stderr, "e2e: stop dev server:", err)
	}
	return code
}
