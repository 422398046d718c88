package main

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/esmhq/esm/workflows"
	"go.temporal.io/api/operatorservice/v1"
)

// TestSetup: esm setup registers the search attributes on a server that lacks them, and a second
// run adds nothing.
func TestSetup(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Temporal dev server")
	}
	ctx := context.Background()
	root, _ := filepath.Abs(filepath.Join("..", ".."))
	ds, err := startDevServer(ctx, filepath.Join(root, "bin", "temporal")) // no search attributes
	if err != nil {
		t.Fatal(err)
	}
	defer ds.Stop()
	t.Setenv("TEMPORAL_ADDRESS", ds.FrontendHostPort())
	var out bytes.Buffer
	if err := run(ctx, []string{"setup"}, &out); err != nil || !strings.Contains(out.String(), fmt.Sprintf("%d added", len(workflows.SearchAttributes()))) {
		t.Fatalf("first setup: %v %s", err, out.String())
	}
	resp, err := ds.Client().OperatorService().ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: "default"})
	if err != nil {
		t.Fatal(err)
	}
	for name := range workflows.SearchAttributes() {
		if _, ok := resp.GetCustomAttributes()[name]; !ok {
			t.Errorf("%s is not registered", name)
		}
	}
	out.Reset()
	if err := run(ctx, []string{"setup"}, &out); err != nil || !strings.Contains(out.String(), fmt.Sprintf("0 added, %d already registered", len(workflows.SearchAttributes()))) {
		t.Errorf("second setup: %v %s", err, out.String())
	}
}
