package workflows

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/esmhq/esm/activities"
	"github.com/esmhq/esm/catalog"
	"github.com/esmhq/esm/codec"
	"github.com/esmhq/esm/files"
	"github.com/esmhq/esm/files/filestest"
	"github.com/esmhq/esm/store"
	"github.com/esmhq/esm/store/storetest"
	"go.temporal.io/sdk/testsuite"
)

// TestRequestRetention runs the retention workflow on the time-skipping test server with the
// real activity, a real read model (both databases) and a real file store, each of them: the
// local directory, and S3 on a real MinIO started here (bin/minio; skipped without it, failing
// under CI=true). Nothing is deleted a minute before closing + 365d; at it, the objects are
// gone, as the directory or the bucket lists them (one that was already missing is fine), the
// rows say deleted, the timeline says why; a second run deletes nothing twice.
func TestRequestRetention(t *testing.T) {
	t.Run("directory", func(t *testing.T) {
		storetest.Each(t, func(t *testing.T, s *store.Store) {
			dir := t.TempDir()
			url, err := files.DefaultURL(dir)
			if err != nil {
				t.Fatal(err)
			}
			testRequestRetention(t, s, url, func() []string { return filesUnder(t, filepath.Join(dir, "files")) })
		})
	})
	t.Run("s3", func(t *testing.T) {
		m := filestest.StartMinIO(t)
		storetest.Each(t, func(t *testing.T, s *store.Store) {
			bucket, url := m.Bucket(t)
			testRequestRetention(t, s, url, func() []string { return m.Keys(t, bucket) })
		})
	})
}

// filesUnder lists the files under root by their slash-separated path.
func filesUnder(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(root, p)
		out = append(out, filepath.ToSlash(rel))
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// testRequestRetention is TestRequestRetention on the read model s and the file store at url,
// whose objects at rest (not through ESM) objects lists.
func testRequestRetention(t *testing.T, s *store.Store, url string, objects func() []string) {
	ctx := context.Background()
	c, err := codec.Parse("k1:" + "MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=")
	if err != nil {
		t.Fatal(err)
	}
	fs, err := files.Open(ctx, url, c)
	if err != nil {
		t.Fatal(err)
	}
	defer fs.Close()
	closed := time.Date(2026, 3, 2, 17, 0, 0, 0, time.UTC)
	id := "REQ-000007"
	r := catalog.RequestState{ID: id, Number: 7, Seq: 3, Status: catalog.StatusResolved, Stage: catalog.StatusResolved,
		Service:   catalog.ServiceRef{Key: "expense-reimbursement", Version: 1, Department: "finance"},
		Requester: catalog.PersonRef{ID: "alice"}, SubmittedAt: closed.Add(-time.Hour), UpdatedAt: closed, ClosedAt: &closed,
		Timeline: []catalog.Event{{Seq: 1, At: closed.Add(-time.Hour), Type: "submitted"}, {Seq: 2, At: closed, Type: catalog.StatusResolved}}}
	if _, err := s.ProjectRequest(ctx, r); err != nil {
		t.Fatal(err)
	}
	var rows []store.Attachment
	for _, key := range []string{"a/receipt", "a/photo"} {
		w, err := fs.Create(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = w.Write([]byte("%PDF-1.4 taxi"))
		if err := w.Commit(); err != nil {
			t.Fatal(err)
		}
		rows = append(rows, store.Attachment{ID: key[2:], Request: id, Kind: "receipt", Name: key[2:] + ".pdf", ContentType: "application/pdf",
			Size: 13, SHA256: "x", BlobKey: key, UploadedBy: "alice", UploadedAt: closed.Add(-time.Hour)})
	}
	rows = append(rows, store.Attachment{ID: "missing", Request: id, Kind: "receipt", Name: "m.pdf", ContentType: "application/pdf",
		Size: 1, SHA256: "x", BlobKey: "a/never-written", UploadedBy: "alice", UploadedAt: closed.Add(-time.Hour)})
	if err := s.AddAttachments(ctx, rows); err != nil {
		t.Fatal(err)
	}
	kept := func(when string, want bool) {
		t.Helper()
		var atRest []string
		if want {
			atRest = []string{"a/photo", "a/receipt"}
		}
		if got := slices.Sorted(slices.Values(objects())); !slices.Equal(got, atRest) {
			t.Errorf("%s: the store holds %v at rest, want %v", when, got, atRest)
		}
		for _, key := range []string{"a/receipt", "a/photo"} {
			if ok, err := fs.Exists(ctx, key); err != nil || ok != want {
				t.Errorf("%s: %s exists %v (%v), want %v", when, key, ok, err, want)
			}
		}
		list, err := s.Attachments(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		for _, a := range list {
			if (a.DeletedAt == nil) != want {
				t.Errorf("%s: row %s deleted_at %v", when, a.ID, a.DeletedAt)
			}
		}
	}

	var suite testsuite.WorkflowTestSuite
	env := suite.NewTestWorkflowEnvironment()
	env.SetStartTime(closed)
	env.RegisterWorkflow(RequestRetention)
	ret := &activities.Retention{Store: s, Files: fs}
	env.RegisterActivity(ret)
	retention := catalog.Duration(365 * 24 * time.Hour)
	checked := false
	env.RegisterDelayedCallback(func() { kept("a minute before", true); checked = true }, retention.Std()-time.Minute)
	env.ExecuteWorkflow(RequestRetention, RetentionInput{Request: id, ClosedAt: closed, Retention: retention})
	if !env.IsWorkflowCompleted() || env.GetWorkflowError() != nil {
		t.Fatalf("completed %v: %v", env.IsWorkflowCompleted(), env.GetWorkflowError())
	}
	if !checked {
		t.Fatal("the check before the deadline never ran")
	}
	var res activities.DeleteFilesResult
	if err := env.GetWorkflowResult(&res); err != nil || res.Deleted != 3 || !res.Recorded {
		t.Fatalf("result %+v %v", res, err)
	}
	if got := env.Now().Sub(closed); got < retention.Std() {
		t.Fatalf("deleted %s after closing, before the retention", got)
	}
	kept("after", false)
	events, err := s.Events(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	last := events[len(events)-1]
	if len(events) != 3 || last.Type != store.FilesDeletedEvent || last.Seq != 3 ||
		last.Detail != "files deleted: retention 365d after closing (3 files)" {
		t.Fatalf("audit trail: %+v", events)
	}
	state, err := s.Request(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if tl := state.Timeline; len(tl) != 3 || tl[2].Type != store.FilesDeletedEvent || state.Seq != 4 {
		t.Fatalf("the request's timeline: seq %d %+v", state.Seq, tl)
	}
	// A retried deletion deletes nothing twice and records nothing twice.
	again, err := ret.DeleteRequestFiles(ctx, activities.DeleteFilesInput{Request: id, Retention: retention})
	if err != nil || again.Deleted != 0 || again.Recorded {
		t.Fatalf("again: %+v %v", again, err)
	}
	if events, _ := s.Events(ctx, id); len(events) != 3 {
		t.Fatalf("again, the trail: %+v", events)
	}
}
