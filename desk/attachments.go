package desk

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/esmhq/esm/catalog"
	"github.com/esmhq/esm/files"
	"github.com/esmhq/esm/store"
)

// Attachment is a file of a request, as answers carry it.
type Attachment = store.Attachment

// Upload is one file a front door streams to the desk, as it arrives: Body is read once, to its
// end or to the service's max_bytes, and never held whole.
type Upload struct {
	// Kind is the definition's kind of file it is sent as (receipt, contract, photo...).
	Kind string
	// Name is the client's file name (sanitised before it is kept: files.SafeName).
	Name string
	// Task, when set, makes the file an output of that task of the request: only a member of
	// the task's group may send it, once the task has opened.
	Task string
	Body io.Reader
}

// Uploads gives the files of a call one at a time, as a multipart body streams them: nil, nil
// when there are no more.
type Uploads func() (*Upload, error)

// NoUploads is the Uploads of a call without files.
func NoUploads() (*Upload, error) { return nil, nil }

// filesReady answers whether the desk can take files.
func (d *Desk) filesReady() error {
	if d.files == nil {
		return kindErr(ErrUnavailable, "this ESM has no file store configured (ESM_BLOB_URL)")
	}
	return nil
}

// uploadErr is a refusal of one file, named /attachments/<i> with the rule broken.
func uploadErr(i int, rule, format string, args ...any) error {
	return invalid("the file is refused", catalog.FieldError{Field: fmt.Sprintf("/attachments/%d", i), Rule: rule, Detail: fmt.Sprintf(format, args...)})
}

// ErrTooLarge is what the limited reader says when a file passes max_bytes.
var errTooLarge = errors.New("file too large")

type capped struct {
	r    io.Reader
	left int64
}

func (c *capped) Read(p []byte) (int, error) {
	if c.left < 0 {
		return 0, errTooLarge
	}
	if int64(len(p)) > c.left+1 {
		p = p[:c.left+1]
	}
	n, err := c.r.Read(p)
	c.left -= int64(n)
	if c.left < 0 {
		return n, errTooLarge
	}
	return n, err
}

// stage streams one file into the file store under a new object: its type sniffed from the
// first bytes and checked against the service's types, its size capped at max_bytes while it
// streams, scanned by clamd when one is configured (an infected file is never stored: the
// write is aborted), its SHA-256 taken. It answers the attachment's metadata, without its
// request (the caller records it). i numbers the file in the call, for field errors.
func (d *Desk) stage(ctx context.Context, spec *catalog.Attachments, up Upload, i int, me Actor) (Attachment, error) {
	if !slices.Contains(spec.Kinds(), up.Kind) {
		return Attachment{}, uploadErr(i, "enum", "the service takes files of the kinds %v, not %q", spec.Kinds(), up.Kind)
	}
	max := spec.Bytes()
	body := &capped{r: up.Body, left: max}
	head := make([]byte, files.SniffLen)
	n, err := io.ReadFull(body, head)
	if errors.Is(err, errTooLarge) {
		return Attachment{}, uploadErr(i, "maxBytes", "%s is larger than the %s the service takes", files.SafeName(up.Name), catalog.ByteSize(max))
	}
	if err != nil && err != io.ErrUnexpectedEOF && err != io.EOF {
		return Attachment{}, fmt.Errorf("read the upload: %w", err)
	}
	head = head[:n]
	if n == 0 {
		return Attachment{}, uploadErr(i, "minBytes", "%s is empty", files.SafeName(up.Name))
	}
	ctype := files.Sniff(head)
	if !slices.Contains(spec.TypesTaken(), ctype) {
		return Attachment{}, uploadErr(i, "type", "%s is %s; the service takes %v", files.SafeName(up.Name), ctype, spec.TypesTaken())
	}
	id := newAttachmentID()
	key := "attachments/" + id
	w, err := d.files.Create(ctx, key)
	if err != nil {
		return Attachment{}, err
	}
	sum := sha256.New()
	sinks := []io.Writer{w, sum}
	var scan *files.Scan
	if d.clamd != nil {
		if scan, err = d.clamd.Start(ctx); err != nil {
			w.Abort()
			return Attachment{}, &Error{Kind: ErrUnavailable, Detail: err.Error()}
		}
		defer scan.Abort()
		sinks = append(sinks, scan)
	}
	out := io.MultiWriter(sinks...)
	_, err = io.Copy(out, io.MultiReader(bytes.NewReader(head), body))
	switch {
	case errors.Is(err, errTooLarge):
		w.Abort()
		return Attachment{}, uploadErr(i, "maxBytes", "%s is larger than the %s the service takes", files.SafeName(up.Name), catalog.ByteSize(max))
	case err != nil:
		w.Abort()
		return Attachment{}, fmt.Errorf("store %s: %w", files.SafeName(up.Name), err)
	}
	if scan != nil {
		var inf *files.Infected
		verr := scan.Verdict()
		if errors.As(verr, &inf) {
			w.Abort()
			d.log.WarnContext(ctx, "infected upload refused", "person", me.ID, "signature", inf.Signature, "name", files.SafeName(up.Name))
			return Attachment{}, uploadErr(i, "infected", "%s is infected (%s) and was not stored", files.SafeName(up.Name), inf.Signature)
		}
		if verr != nil {
			w.Abort()
			return Attachment{}, &Error{Kind: ErrUnavailable, Detail: verr.Error()}
		}
	}
	if err := w.Commit(); err != nil {
		return Attachment{}, err
	}
	return Attachment{ID: id, Kind: up.Kind, Name: files.SafeName(up.Name), ContentType: ctype, Size: w.Size(),
		SHA256: hex.EncodeToString(sum.Sum(nil)), BlobKey: key, Task: up.Task, UploadedBy: me.ID, UploadedAt: d.now().UTC()}, nil
}

// stageAll stages every upload of next, at most room of them; on any refusal it deletes what it
// staged and answers the refusal. The caller deletes them (discard) if it does not record them.
func (d *Desk) stageAll(ctx context.Context, spec *catalog.Attachments, next Uploads, room int, me Actor, check func(i int, up *Upload) error) ([]Attachment, error) {
	var staged []Attachment
	for i := 0; ; i++ {
		up, err := next()
		if err == nil && up == nil {
			return staged, nil
		}
		if err == nil && spec == nil {
			err = uploadErr(i, "none", "the service takes no files")
		}
		if err == nil && len(staged) >= room {
			err = uploadErr(i, "maxItems", "the request may have %d files at most (the service's attachments.max_files)", spec.Files())
		}
		if err == nil && check != nil {
			err = check(i, up)
		}
		var a Attachment
		if err == nil {
			a, err = d.stage(ctx, spec, *up, i, me)
		}
		if err != nil {
			d.discard(ctx, staged)
			return nil, err
		}
		staged = append(staged, a)
	}
}

// discard deletes staged objects that were not recorded.
func (d *Desk) discard(ctx context.Context, staged []Attachment) {
	for _, a := range staged {
		if err := d.files.Delete(context.WithoutCancel(ctx), a.BlobKey); err != nil {
			d.log.WarnContext(ctx, "delete an unrecorded file", "key", a.BlobKey, "error", err)
		}
	}
}

// submittedFileID is the id of the i-th file sent with the submission that made request: the
// same for every attempt of that submission, so that only one attempt's files are recorded
// (store.AddAttachmentsOnce). The object's key stays the random one it was staged under.
func submittedFileID(request string, i int) string {
	sum := sha256.Sum256([]byte(fmt.Sprintf("esm submitted file\x00%s\x00%d", request, i)))
	return "att-" + hex.EncodeToString(sum[:12])
}

func newAttachmentID() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return "att-" + hex.EncodeToString(b)
}

// canAdd: the requester, an approver of any step (or their delegate), a member of the group of
// a task that has opened; not an operator for being one (operators read, they do not add).
func canAdd(p Actor, delegators []string, st catalog.RequestState) bool {
	op := p
	op.Roles = slices.DeleteFunc(slices.Clone(p.Roles), func(r string) bool { return r == catalog.RoleOperator })
	return canSee(op, delegators, st)
}

// AttachInput adds files to a request after its submission.
type AttachInput struct {
	Request string
	Files   Uploads
}

// Attach adds files to a request: the requester, an approver (or their delegate) or a fulfiller
// of the request may (docs/ACCESS.md); a file carried by a task's output only a member of that
// task's group. The files stream in as next gives them; each is checked (kind, sniffed type,
// max_bytes, the request's max_files, clamd) and stored encrypted, and all are recorded once
// every one was accepted, or none is.
//
// Errors: ErrNotFound (no request the actor may see), ErrForbidden (one who may see it but may
// not add), ErrConflict (the request is closed), *ValidationError (a file refused: its field
// /attachments/<i> and rule: enum, type, maxBytes, minBytes, maxItems, infected, none),
// ErrUnavailable (no file store, or clamd did not answer). The max_files count is checked again
// as the files are recorded, in one transaction with the insert (store.AddAttachmentsUpTo): of
// two calls at once that together pass it, the later is refused, field /attachments, maxItems.
func (d *Desk) Attach(ctx context.Context, me Actor, in AttachInput) ([]Attachment, error) {
	st, delegators, err := d.visible(ctx, me, in.Request)
	if err != nil {
		return nil, err
	}
	if delegators == nil && !canAdd(me, nil, st) {
		delegators, err = d.store.Delegators(ctx, me.ID, d.now())
		if err != nil {
			return nil, err
		}
	}
	if !canAdd(me, delegators, st) {
		return nil, forbidden("only the requester, an approver or a fulfiller of %s may add files to it", st.ID)
	}
	if catalog.Terminal(st.Status) {
		return nil, conflict("%s is closed (%s): it takes no more files", st.ID, st.Status)
	}
	if err := d.filesReady(); err != nil {
		return nil, err
	}
	sv, err := d.store.ServiceAt(ctx, st.Service.Key, st.Service.Version)
	if err != nil {
		return nil, fmt.Errorf("service %s v%d: %w", st.Service.Key, st.Service.Version, err)
	}
	spec := sv.Definition.Attachments
	have, err := d.store.Attachments(ctx, st.ID)
	if err != nil {
		return nil, err
	}
	check := func(i int, up *Upload) error {
		if up.Task == "" {
			return nil
		}
		for _, t := range st.Tasks {
			if t.ID == up.Task {
				if t.State == catalog.TaskWaiting || t.State == catalog.TaskSkipped || !me.InGroup(t.Group) {
					return forbidden("only a member of %s, once the task has opened, adds files to task %s", t.Group, t.ID)
				}
				return nil
			}
		}
		return uploadErr(i, "task", "%s has no task %q", st.ID, up.Task)
	}
	room := 0
	if spec != nil {
		room = max(0, spec.Files()-len(have))
	}
	staged, err := d.stageAll(ctx, spec, in.Files, room, me, check)
	if err != nil {
		return nil, err
	}
	if len(staged) == 0 {
		return nil, invalid("send at least one file", catalog.FieldError{Field: "/attachments", Rule: "minItems", Detail: "no file was sent"})
	}
	for i := range staged {
		staged[i].Request = st.ID
	}
	// The count above let the files stream without waiting; the store counts again, with the
	// insert, so that two calls at once cannot together pass max_files.
	if err := d.store.AddAttachmentsUpTo(ctx, staged, spec.Files()); err != nil {
		d.discard(ctx, staged)
		if errors.Is(err, store.ErrTooManyFiles) {
			return nil, invalid("the file is refused", catalog.FieldError{Field: "/attachments", Rule: "maxItems",
				Detail: fmt.Sprintf("the request may have %d files at most (the service's attachments.max_files); files were added meanwhile", spec.Files())})
		}
		return nil, err
	}
	return staged, nil
}

// Attachments lists a request's files (deleted ones with their DeletedAt) to whoever may see
// the request. Errors: ErrNotFound.
func (d *Desk) Attachments(ctx context.Context, me Actor, requestID string) ([]Attachment, error) {
	if _, _, err := d.visible(ctx, me, requestID); err != nil {
		return nil, err
	}
	return d.store.Attachments(ctx, requestID)
}

// OpenAttachment streams a request's file, decrypted, to whoever may see the request; the
// caller closes it. Errors: ErrNotFound (no such request or file for the actor), ErrGone (the
// file was deleted, by retention), ErrUnavailable (no file store).
func (d *Desk) OpenAttachment(ctx context.Context, me Actor, requestID, id string) (Attachment, io.ReadCloser, error) {
	if _, _, err := d.visible(ctx, me, requestID); err != nil {
		return Attachment{}, nil, err
	}
	a, err := d.store.AttachmentOf(ctx, requestID, id)
	if errors.Is(err, store.ErrNotFound) {
		return a, nil, notFound("%s has no file %q", requestID, id)
	}
	if err != nil {
		return a, nil, err
	}
	if a.DeletedAt != nil {
		return a, nil, kindErr(ErrGone, "the file %s was deleted at %s (the service's retention)", a.Name, a.DeletedAt.UTC().Format("2006-01-02 15:04"))
	}
	if err := d.filesReady(); err != nil {
		return a, nil, err
	}
	r, err := d.files.Open(ctx, a.BlobKey)
	if errors.Is(err, files.ErrNotFound) {
		return a, nil, kindErr(ErrGone, "the file %s is no longer stored", a.Name)
	}
	return a, r, err
}

// filesOf answers a request's files and, when me may add one now by Attach's rule (one who
// may add: canAdd with their delegators; the request open; a file store; the service taking
// files with room left under its max_files), the service version's attachments block; nil
// when not.
func (d *Desk) filesOf(ctx context.Context, me Actor, delegators []string, st catalog.RequestState) ([]Attachment, *catalog.Attachments, error) {
	have, err := d.store.Attachments(ctx, st.ID)
	if err != nil {
		return nil, nil, err
	}
	if catalog.Terminal(st.Status) || d.files == nil {
		return have, nil, nil
	}
	if delegators == nil && !canAdd(me, nil, st) {
		if delegators, err = d.store.Delegators(ctx, me.ID, d.now()); err != nil {
			return nil, nil, err
		}
	}
	if !canAdd(me, delegators, st) {
		return have, nil, nil
	}
	sv, err := d.store.ServiceAt(ctx, st.Service.Key, st.Service.Version)
	if err != nil {
		return nil, nil, fmt.Errorf("service %s v%d: %w", st.Service.Key, st.Service.Version, err)
	}
	spec := sv.Definition.Attachments
	if spec == nil || len(have) >= spec.Files() {
		return have, nil, nil
	}
	return have, spec, nil
}
