package activities

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/esmhq/esm/catalog"
	"github.com/esmhq/esm/files"
	"github.com/esmhq/esm/store"
)

// Retention deletes a request's files once its service's retention has passed (the
// RequestRetention workflow): the objects from the file store, the rows marked deleted, an audit
// event in the request's timeline.
type Retention struct {
	Store *store.Store
	// Files is the attachments' store (ESM_BLOB_URL); nil: the deletion fails and is retried
	// until a worker that has one runs it.
	Files *files.Store
}

// DeleteFilesInput names the request whose files go, and the retention that says so (for the
// audit event).
type DeleteFilesInput struct {
	Request   string
	Retention catalog.Duration
}

// DeleteFilesResult counts the files this call deleted (0 on a retry that found them gone) and
// says whether it recorded the audit event.
type DeleteFilesResult struct {
	Deleted  int
	Recorded bool
}

// DeleteRequestFiles deletes every file of a request not yet deleted: the object first (one
// already gone is fine), then its row is marked deleted, so a retried call deletes nothing twice
// and a crash between the two only repeats a harmless deletion. Then the request's timeline
// gets one store.FilesDeletedEvent, "files deleted: retention 365d after closing (2 files)",
// unless it has it already, or the request never had a file.
func (r *Retention) DeleteRequestFiles(ctx context.Context, in DeleteFilesInput) (DeleteFilesResult, error) {
	var res DeleteFilesResult
	if r.Files == nil {
		return res, errors.New("this worker has no file store (ESM_BLOB_URL): the files of " + in.Request + " wait for one")
	}
	list, err := r.Store.Attachments(ctx, in.Request)
	if err != nil {
		return res, fmt.Errorf("files of %s: %w", in.Request, err)
	}
	if len(list) == 0 {
		return res, nil
	}
	for _, a := range list {
		if a.DeletedAt != nil {
			continue
		}
		if err := r.Files.Delete(ctx, a.BlobKey); err != nil {
			return res, fmt.Errorf("delete %s of %s: %w", a.ID, in.Request, err)
		}
		if err := r.Store.MarkAttachmentDeleted(ctx, a.ID, time.Now()); err != nil {
			return res, fmt.Errorf("mark %s of %s deleted: %w", a.ID, in.Request, err)
		}
		res.Deleted++
	}
	files := "1 file"
	if len(list) != 1 {
		files = fmt.Sprintf("%d files", len(list))
	}
	res.Recorded, err = r.Store.RecordFilesDeleted(ctx, in.Request, catalog.Event{
		At: time.Now(), Type: store.FilesDeletedEvent,
		Detail: fmt.Sprintf("files deleted: retention %s after closing (%s)", in.Retention, files),
	})
	if errors.Is(err, store.ErrNotFound) {
		return res, nil // files without a request in the read model: nothing to record on
	}
	return res, err
}
