package store_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/esmhq/esm/store"
	"github.com/esmhq/esm/store/storetest"
)

// TestOrphanAttachments: the files an abandoned submission left under a number with no request
// row are listed once older than the cut-off (a deleted one too), page by page; a request's
// files and a young orphan are not; DeleteOrphanAttachment deletes an orphan's row once and
// never a request's. On each database.
func TestOrphanAttachments(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		storetest.SeedRequests(t, s, 1) // REQ-000001 exists
		now := time.Now().UTC()
		old := now.Add(-2 * time.Hour)
		att := func(id, request string, at time.Time) store.Attachment {
			return store.Attachment{ID: id, Request: request, Kind: "receipt", Name: id + ".pdf", ContentType: "application/pdf",
				Size: 1, SHA256: "00", BlobKey: "attachments/" + id, UploadedBy: "alice", UploadedAt: at}
		}
		if err := s.AddAttachments(ctx, []store.Attachment{
			att("att-a", "REQ-000001", old), att("att-b", "REQ-000002", old), att("att-c", "REQ-000002", old),
			att("att-d", "REQ-000003", now), att("att-e", "REQ-000004", old),
		}); err != nil {
			t.Fatal(err)
		}
		if err := s.MarkAttachmentDeleted(ctx, "att-e", old); err != nil {
			t.Fatal(err)
		}
		ids := func(list []store.Attachment) []string {
			var out []string
			for _, a := range list {
				out = append(out, a.ID)
			}
			return out
		}
		cut := now.Add(-time.Hour)
		list, err := s.OrphanAttachments(ctx, cut, "", 10)
		if err != nil {
			t.Fatal(err)
		}
		if got := ids(list); !slices.Equal(got, []string{"att-b", "att-c", "att-e"}) {
			t.Fatalf("orphans = %v, want att-b, att-c, att-e", got)
		}
		if list[0].BlobKey != "attachments/att-b" || list[0].Request != "REQ-000002" {
			t.Fatalf("orphan %+v", list[0])
		}
		page, err := s.OrphanAttachments(ctx, cut, "att-b", 1)
		if err != nil || !slices.Equal(ids(page), []string{"att-c"}) {
			t.Fatalf("the page after att-b = %v %v, want att-c", ids(page), err)
		}
		if ok, err := s.DeleteOrphanAttachment(ctx, "att-a"); err != nil || ok {
			t.Fatalf("deleting a request's file: %v %v, want false", ok, err)
		}
		if ok, err := s.DeleteOrphanAttachment(ctx, "att-b"); err != nil || !ok {
			t.Fatalf("deleting an orphan: %v %v, want true", ok, err)
		}
		if ok, err := s.DeleteOrphanAttachment(ctx, "att-b"); err != nil || ok {
			t.Fatalf("deleting it again: %v %v, want false", ok, err)
		}
		if list, err := s.OrphanAttachments(ctx, cut, "", 10); err != nil || !slices.Equal(ids(list), []string{"att-c", "att-e"}) {
			t.Fatalf("orphans after = %v %v", ids(list), err)
		}
		if l, err := s.Attachments(ctx, "REQ-000001"); err != nil || len(l) != 1 {
			t.Fatalf("REQ-000001's files = %v %v", l, err)
		}
		if l, err := s.Attachments(ctx, "REQ-000003"); err != nil || len(l) != 1 {
			t.Fatalf("the young orphan = %v %v", l, err)
		}
	})
}
