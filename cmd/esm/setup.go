package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/esmhq/esm/workflows"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
)

// setupCmd registers ESM's custom search attributes on a real Temporal cluster (the dev server
// gets them by flag). Attributes already there are left alone, so it can run on every deploy.
func setupCmd(ctx context.Context, cfg config, out io.Writer) error {
	tc, err := dialTemporal(ctx, cfg)
	if err != nil {
		return err
	}
	defer tc.Close()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	op := tc.OperatorService()
	have, err := op.ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: cfg.Namespace})
	if err != nil {
		return fmt.Errorf("list search attributes: %w", err)
	}
	want := map[string]enumspb.IndexedValueType{}
	for name, typ := range workflows.SearchAttributes() {
		if _, ok := have.GetCustomAttributes()[name]; ok {
			continue
		}
		v, err := enumspb.IndexedValueTypeFromString(typ)
		if err != nil {
			return fmt.Errorf("search attribute %s: %w", name, err)
		}
		want[name] = v
	}
	if len(want) > 0 {
		if _, err := op.AddSearchAttributes(ctx, &operatorservice.AddSearchAttributesRequest{
			Namespace: cfg.Namespace, SearchAttributes: want,
		}); err != nil {
			return fmt.Errorf("add search attributes: %w", err)
		}
	}
	fmt.Fprintf(out, "search attributes: %d added, %d already registered in namespace %s\n",
		len(want), len(workflows.SearchAttributes())-len(want), cfg.Namespace)
	return nil
}
