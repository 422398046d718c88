package worker_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/esmhq/esm/codec"
	"github.com/esmhq/esm/files"
	"github.com/esmhq/esm/store"
	"github.com/esmhq/esm/store/storetest"
	"github.com/esmhq/esm/worker"
	"github.com/esmhq/esm/workflows"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/testsuite"
)

// TestSweepOrphanFiles: the reconciler deletes, object then row, the files that submissions
// left under numbers with no request (issue 21: recorded, then the workflow never started and
// nobody retried), once they are over an hour old; it keeps a request's files, a young
// orphan's, and those of a number whose workflow exists in Temporal though its request row is
// not written yet (its worker down). A deleted object is fine; a second round deletes nothing.
// On a real Temporal dev server, on each database.
func TestSweepOrphanFiles(t *testing.T) {
	bin, err := filepath.Abs(filepath.Join("..", "bin", "temporal"))
	if err == nil {
		_, err = os.Stat(bin)
	}
	if err != nil {
		t.Fatal("bin/temporal is missing: run `make build`")
	}
	ctx := context.Background()
	dev, err := testsuite.StartDevServer(ctx, testsuite.DevServerOptions{ExistingPath: bin, LogLevel: "error",
		ClientOptions: &client.Options{Namespace: "default", Logger: quiet{}}, Stdout: io.Discard, Stderr: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = dev.Stop() })
	tc := dev.Client()
	// REQ-000005's workflow was started and waits for a worker: no request row yet.
	if _, err := tc.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: workflows.RequestWorkflowID("REQ-000005"), TaskQueue: "nobody-listens"}, "ServiceRequest"); err != nil {
		t.Fatal(err)
	}
	keys, err := codec.Parse(codec.NewKey("test"))
	if err != nil {
		t.Fatal(err)
	}
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		storetest.SeedRequests(t, s, 1) // REQ-000001 exists
		dir := t.TempDir()
		u, err := files.DefaultURL(dir)
		if err != nil {
			t.Fatal(err)
		}
		fs, err := files.Open(ctx, u, keys)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = fs.Close() })
		now := time.Now().UTC()
		old := now.Add(-2 * time.Hour)
		var rows []store.Attachment
		put := func(id, request string, at time.Time, object bool) {
			a := store.Attachment{ID: id, Request: request, Kind: "receipt", Name: id + ".pdf", ContentType: "application/pdf",
				Size: 4, SHA256: "00", BlobKey: "attachments/" + id, UploadedBy: "alice", UploadedAt: at}
			rows = append(rows, a)
			if !object {
				return
			}
			w, err := fs.Create(ctx, a.BlobKey)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := io.Copy(w, bytes.NewReader([]byte("%PDF"))); err != nil {
				t.Fatal(err)
			}
			if err := w.Commit(); err != nil {
				t.Fatal(err)
			}
		}
		put("att-a", "REQ-000001", old, true) // its request exists
		put("att-b", "REQ-000002", old, true) // orphans
		put("att-c", "REQ-000002", old, true)
		put("att-d", "REQ-000003", now, true)  // too young
		put("att-e", "REQ-000004", old, false) // an orphan whose object is gone already
		put("att-f", "REQ-000005", old, true)  // its workflow exists
		if err := s.AddAttachments(ctx, rows); err != nil {
			t.Fatal(err)
		}
		rec := &worker.Reconciler{Temporal: tc, Store: s, Files: fs, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}
		n, err := rec.SweepOrphanFiles(ctx)
		if err != nil || n != 3 {
			t.Fatalf("sweep: %d %v, want 3 (att-b, att-c, att-e)", n, err)
		}
		for _, a := range rows {
			gone := a.ID == "att-b" || a.ID == "att-c" || a.ID == "att-e"
			if ok, err := fs.Exists(ctx, a.BlobKey); err != nil || (ok == gone && a.ID != "att-e") {
				t.Errorf("%s of %s: object there %v (%v), want gone %v", a.ID, a.Request, ok, err, gone)
			}
			if _, err := s.AttachmentOf(ctx, a.Request, a.ID); (err == nil) == gone {
				t.Errorf("%s of %s: row %v, want gone %v", a.ID, a.Request, err, gone)
			}
		}
		if n, err := rec.SweepOrphanFiles(ctx); err != nil || n != 0 {
			t.Fatalf("second sweep: %d %v, want 0", n, err)
		}
		// Without a file store nothing is swept.
		if n, err := (&worker.Reconciler{Temporal: tc, Store: s}).SweepOrphanFiles(ctx); err != nil || n != 0 {
			t.Fatalf("sweep without files: %d %v", n, err)
		}
	})
}

// quiet drops the SDK's client logs.
type quiet struct{}

func (quiet) Debug(string, ...any) {}
func (quiet) Info(string, ...any)  {}
func (quiet) Warn(string, ...any)  {}
func (quiet) Error(string, ...any) {}
