package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/esmhq/esm/workflows"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/operatorservice/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/api/workflowservice/v1"
	"google.golang.org/protobuf/types/known/durationpb"
)

// setupCmd prepares a real Temporal cluster for ESM: it registers the namespace
// (TEMPORAL_NAMESPACE) when the cluster does not have it, with -retention (how long closed
// workflows' histories are kept; default 7 days), and ESM's custom search attributes in it (the
// dev server gets both by flag). What is already there is left alone, so it can run on every
// deploy. A namespace just registered takes the frontend some seconds to see: adding the search
// attributes is retried for up to a minute while the cluster answers that it does not know it.
func setupCmd(ctx context.Context, cfg config, args []string, out io.Writer) error {
	fs := flag.NewFlagSet("setup", flag.ContinueOnError)
	retention := fs.Duration("retention", 7*24*time.Hour, "how long a new namespace keeps closed workflows' histories")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return errors.New("usage: esm setup [-retention 168h]")
	}
	if *retention < 24*time.Hour {
		return fmt.Errorf("-retention: at least 24h (Temporal's minimum), got %s", *retention)
	}
	tc, err := dialTemporal(ctx, cfg)
	if err != nil {
		return err
	}
	defer tc.Close()
	ctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	_, err = tc.WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: cfg.Namespace})
	var notFound *serviceerror.NamespaceNotFound
	switch {
	case errors.As(err, &notFound):
		_, err = tc.WorkflowService().RegisterNamespace(ctx, &workflowservice.RegisterNamespaceRequest{
			Namespace:                        cfg.Namespace,
			Description:                      "ESM: service requests and service lifecycles",
			WorkflowExecutionRetentionPeriod: durationpb.New(*retention),
		})
		var exists *serviceerror.NamespaceAlreadyExists
		if err != nil && !errors.As(err, &exists) {
			return fmt.Errorf("register namespace %s: %w", cfg.Namespace, err)
		}
		fmt.Fprintf(out, "namespace %s registered (retention %s)\n", cfg.Namespace, *retention)
	case err != nil:
		return fmt.Errorf("describe namespace %s: %w", cfg.Namespace, err)
	default:
		fmt.Fprintf(out, "namespace %s already registered\n", cfg.Namespace)
	}
	for {
		added, err := addSearchAttributes(ctx, tc.OperatorService(), cfg.Namespace)
		if err == nil {
			fmt.Fprintf(out, "search attributes: %d added, %d already registered in namespace %s\n",
				added, len(workflows.SearchAttributes())-added, cfg.Namespace)
			return nil
		}
		if !errors.As(err, &notFound) {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (the namespace was not seen in time: %v)", err, ctx.Err())
		case <-time.After(time.Second):
		}
	}
}

// addSearchAttributes adds those of workflows.SearchAttributes that the namespace lacks and says
// how many it added.
func addSearchAttributes(ctx context.Context, op operatorservice.OperatorServiceClient, namespace string) (int, error) {
	have, err := op.ListSearchAttributes(ctx, &operatorservice.ListSearchAttributesRequest{Namespace: namespace})
	if err != nil {
		return 0, fmt.Errorf("list search attributes: %w", err)
	}
	want := map[string]enumspb.IndexedValueType{}
	for name, typ := range workflows.SearchAttributes() {
		if _, ok := have.GetCustomAttributes()[name]; ok {
			continue
		}
		v, err := enumspb.IndexedValueTypeFromString(typ)
		if err != nil {
			return 0, fmt.Errorf("search attribute %s: %w", name, err)
		}
		want[name] = v
	}
	if len(want) > 0 {
		if _, err := op.AddSearchAttributes(ctx, &operatorservice.AddSearchAttributesRequest{
			Namespace: namespace, SearchAttributes: want,
		}); err != nil {
			return 0, fmt.Errorf("add search attributes: %w", err)
		}
	}
	return len(want), nil
}
