package desk

import (
	"context"
	"testing"
	"time"
)

// TestLifecycleWorkerDown: with the worker down, a service's lifecycle (and the page built on it,
// LifecycleForm) answers ErrUnavailable within the desk's wait, as a request's page answers
// from the read model: never a hang until the client gives up, nor an error of no kind (which a
// door answers with a 500). On each database.
func TestLifecycleWorkerDown(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		nina := f.person("nina")
		if _, err := f.desk.LifecycleForm(ctx, nina, "vpn-access"); err != nil {
			t.Fatalf("with the worker up: %v", err)
		}
		f.worker.Stop()
		impatient := New(Config{Store: f.store, Temporal: f.tc, Logger: f.desk.log, WorkflowWait: 3 * time.Second})
		for name, call := range map[string]func(context.Context) error{
			"Lifecycle": func(ctx context.Context) error {
				_, err := impatient.Lifecycle(ctx, nina, "vpn-access")
				return err
			},
			"LifecycleForm": func(ctx context.Context) error {
				_, err := impatient.LifecycleForm(ctx, nina, "vpn-access")
				return err
			},
		} {
			// The caller's own patience is far longer than the desk's wait: the desk must not
			// lean on it.
			ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
			start := time.Now()
			err := call(ctx)
			cancel()
			if took := time.Since(start); took > 5*time.Second {
				t.Errorf("%s with the worker down took %s (the desk's wait is 3s)", name, took.Round(time.Second))
			}
			wantKind(t, err, ErrUnavailable)
		}
	})
}
