package main

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/esmhq/esm/workflows"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/workflowservice/v1"
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

// TestSetupNamespace: on a cluster without ESM's namespace (a real server starts with none), esm
// setup registers it and then its search attributes; a second run finds both.
func TestSetupNamespace(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Temporal dev server")
	}
	ctx := context.Background()
	root, _ := filepath.Abs(filepath.Join("..", ".."))
	ds, err := startDevServer(ctx, filepath.Join(root, "bin", "temporal"))
	if err != nil {
		t.Fatal(err)
	}
	defer ds.Stop()
	t.Setenv("TEMPORAL_ADDRESS", ds.FrontendHostPort())
	t.Setenv("TEMPORAL_NAMESPACE", "esm-setup")
	var out bytes.Buffer
	if err := run(ctx, []string{"setup", "-retention", "48h"}, &out); err != nil {
		t.Fatalf("first setup: %v %s", err, out.String())
	}
	if !strings.Contains(out.String(), "namespace esm-setup registered (retention 48h0m0s)") ||
		!strings.Contains(out.String(), fmt.Sprintf("%d added", len(workflows.SearchAttributes()))) {
		t.Fatalf("first setup said %s", out.String())
	}
	ns, err := ds.Client().WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: "esm-setup"})
	if err != nil {
		t.Fatal(err)
	}
	if got := ns.GetConfig().GetWorkflowExecutionRetentionTtl().AsDuration(); got != 48*time.Hour {
		t.Errorf("retention %s, want 48h", got)
	}
	out.Reset()
	if err := run(ctx, []string{"setup"}, &out); err != nil || !strings.Contains(out.String(), "namespace esm-setup already registered") ||
		!strings.Contains(out.String(), fmt.Sprintf("0 added, %d already registered", len(workflows.SearchAttributes()))) {
		t.Errorf("second setup: %v %s", err, out.String())
	}
	if err := run(ctx, []string{"setup", "-retention", "1h"}, &out); err == nil || !strings.Contains(err.Error(), "-retention: at least 24h") {
		t.Errorf("a retention under a day: %v", err)
	}
}
