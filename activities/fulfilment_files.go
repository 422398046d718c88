package activities

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"time"

	"github.com/esmhq/esm/catalog"
	"github.com/esmhq/esm/files"
	"github.com/esmhq/esm/store"
	"go.temporal.io/sdk/temporal"
)

// ErrBadAnswer is the application error type of a 2xx answer ESM cannot take: a file it carries
// is refused (too large, not base64, a type or kind the service does not take). The call was
// made, so it is not retried, and a cancel or rollback still compensates it (unlike
// ErrHTTPRefused: nothing happened).
const ErrBadAnswer = "BadAnswer"

// MaxCallFileBytes bounds each file an automation's answer carries (decoded), whatever the
// service's max_bytes; MaxCallFiles bounds how many one answer carries.
const (
	MaxCallFileBytes = 10 << 20
	MaxCallFiles     = 10
)

// maxAnswerWithFiles bounds what is read of an answer: MaxCallFiles files of MaxCallFileBytes,
// base64 (4/3), and maxAnswer of the rest. The outputs that remain once the files are taken out
// are still bounded by maxAnswer (they go into the workflow history).
const maxAnswerWithFiles = MaxCallFiles*MaxCallFileBytes*4/3 + maxAnswer

// CallFiles says where the files of an automation's answer go: the request and task they are
// outputs of and the rules of the service's attachments block (nil: the service has none, and
// any kind with the default types, DefaultAttachmentTypes, is taken). Without it (requests
// before revision 4) an answer's "files" stays in the outputs as it came.
type CallFiles struct {
	Request string
	Task    string
	Rules   *catalog.Attachments `json:",omitempty"`
}

// CallFileUploader is who an automation's files are recorded as uploaded by.
const CallFileUploader = "automation"

// kindPattern is a kind an automation may name when the service has no attachments block: the
// catalog's rule for a kind of file (lowercase letters, digits, - and _, from a letter, 40 at most).
var kindPattern = regexp.MustCompile(`^[a-z][a-z0-9_-]{0,39}$`)

// callFileID is the attachment id of the i-th file of the answer to the call of task of request:
// the same on every attempt, so that a retried call records its files once
// (store.AddAttachmentsOnce).
func callFileID(request, task string, i int) string {
	sum := sha256.Sum256([]byte(fmt.Sprintf("esm automation file\x00%s\x00%s\x00%d", request, task, i)))
	return "att-" + hex.EncodeToString(sum[:12])
}

// CallFileID is callFileID, for tests and the API's documentation of where a file came from.
func CallFileID(request, task string, i int) string { return callFileID(request, task, i) }

// answerFile is one element of an answer's "files".
type answerFile struct {
	Name    string
	Kind    string
	Content string
}

// answerFiles reads an answer's "files" when it is a list of objects each carrying a string
// content_base64; anything else (no "files", or a "files" of another shape) answers false and the
// outputs keep it as they were.
func answerFiles(out map[string]any) ([]answerFile, bool) {
	list, ok := out["files"].([]any)
	if !ok || len(list) == 0 {
		return nil, false
	}
	var fs []answerFile
	for _, v := range list {
		m, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		c, ok := m["content_base64"].(string)
		if !ok {
			return nil, false
		}
		name, _ := m["name"].(string)
		kind, _ := m["kind"].(string)
		fs = append(fs, answerFile{Name: name, Kind: kind, Content: c})
	}
	return fs, true
}

func badAnswer(url string, i int, format string, args ...any) error {
	return temporal.NewNonRetryableApplicationError(fmt.Sprintf("%s answered a file ESM does not take: files[%d]: %s", url, i, fmt.Sprintf(format, args...)), ErrBadAnswer, nil)
}

// takeFiles stores the files of an answer (encrypted, through the files store, one store row
// each, as uploads) and replaces "files" in out by what they became: [{id, name, kind,
// content_type, size, sha256}], never their bytes. Ids are callFileID's, so a retried call
// records nothing twice: when the first is recorded already, the recorded rows are answered and
// nothing is stored.
func (f *Fulfilment) takeFiles(ctx context.Context, in CallInput, out map[string]any, list []answerFile) error {
	if f.Store == nil || f.Files == nil {
		return temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("%s answered with files, but this ESM worker has no file store (ESM_BLOB_URL)", in.Call.URL), ErrBadAnswer, nil)
	}
	if len(list) > MaxCallFiles {
		return badAnswer(in.Call.URL, MaxCallFiles, "an answer carries %d files at most", MaxCallFiles)
	}
	where := in.Files
	ids := make([]string, len(list))
	for i := range list {
		ids[i] = callFileID(where.Request, where.Task, i)
	}
	if _, err := f.Store.AttachmentOf(ctx, where.Request, ids[0]); err == nil {
		return f.recorded(ctx, where.Request, where.Task, out)
	} else if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	rules := where.Rules
	limit := int64(MaxCallFileBytes)
	types := catalog.DefaultAttachmentTypes
	if rules != nil {
		limit = min(limit, rules.Bytes())
		types = rules.TypesTaken()
	}
	now := time.Now().UTC()
	var staged []store.Attachment
	discard := func() {
		for _, a := range staged {
			_ = f.Files.Delete(context.WithoutCancel(ctx), a.BlobKey)
		}
	}
	for i, af := range list {
		kind := af.Kind
		if rules != nil && !slices.Contains(rules.Kinds(), kind) {
			discard()
			return badAnswer(in.Call.URL, i, "kind %q: the service takes files of the kinds %v", kind, rules.Kinds())
		}
		if rules == nil && !kindPattern.MatchString(kind) {
			discard()
			return badAnswer(in.Call.URL, i, "kind %q: a kind is a lowercase word (letters, digits, - and _)", kind)
		}
		if int64(base64.StdEncoding.DecodedLen(len(af.Content))) > limit+3 {
			discard()
			return badAnswer(in.Call.URL, i, "%s is larger than the %s taken", files.SafeName(af.Name), catalog.ByteSize(limit))
		}
		b, err := base64.StdEncoding.DecodeString(af.Content)
		if err != nil {
			discard()
			return badAnswer(in.Call.URL, i, "content_base64 is not base64: %v", err)
		}
		if int64(len(b)) > limit {
			discard()
			return badAnswer(in.Call.URL, i, "%s is larger than the %s taken", files.SafeName(af.Name), catalog.ByteSize(limit))
		}
		if len(b) == 0 {
			discard()
			return badAnswer(in.Call.URL, i, "%s is empty", files.SafeName(af.Name))
		}
		ctype := files.Sniff(b[:min(len(b), files.SniffLen)])
		if !slices.Contains(types, ctype) {
			discard()
			return badAnswer(in.Call.URL, i, "%s is %s; the service takes %v", files.SafeName(af.Name), ctype, types)
		}
		// A key of this attempt's own: a concurrent or later attempt never writes over the
		// object a recorded row names; the loser's objects are deleted below.
		rnd := make([]byte, 12)
		_, _ = rand.Read(rnd)
		key := "attachments/" + ids[i] + "-" + hex.EncodeToString(rnd)
		w, err := f.Files.Create(ctx, key)
		if err != nil {
			discard()
			return err
		}
		if _, err := w.Write(b); err != nil {
			w.Abort()
			discard()
			return fmt.Errorf("store %s: %w", files.SafeName(af.Name), err)
		}
		if err := w.Commit(); err != nil {
			discard()
			return err
		}
		sum := sha256.Sum256(b)
		staged = append(staged, store.Attachment{ID: ids[i], Request: where.Request, Kind: kind, Name: files.SafeName(af.Name),
			ContentType: ctype, Size: int64(len(b)), SHA256: hex.EncodeToString(sum[:]), BlobKey: key, Task: where.Task,
			UploadedBy: CallFileUploader, UploadedAt: now})
	}
	wrote, err := f.Store.AddAttachmentsOnce(ctx, staged)
	if err != nil || !wrote {
		discard()
		if err != nil {
			return err
		}
		return f.recorded(ctx, where.Request, where.Task, out)
	}
	setFiles(out, staged)
	return nil
}

// recorded answers the rows an earlier attempt recorded for the task's call (ids
// callFileID(request, task, 0), 1, ... while there are rows), whatever this attempt's answer
// carried: the first attempt recorded is the one the task's outputs name.
func (f *Fulfilment) recorded(ctx context.Context, request, task string, out map[string]any) error {
	all, err := f.Store.Attachments(ctx, request)
	if err != nil {
		return err
	}
	byID := map[string]store.Attachment{}
	for _, a := range all {
		byID[a.ID] = a
	}
	var list []store.Attachment
	for i := 0; ; i++ {
		a, ok := byID[callFileID(request, task, i)]
		if !ok {
			break
		}
		list = append(list, a)
	}
	setFiles(out, list)
	return nil
}

func setFiles(out map[string]any, list []store.Attachment) {
	refs := make([]any, 0, len(list))
	for _, a := range list {
		refs = append(refs, map[string]any{"id": a.ID, "name": a.Name, "kind": a.Kind,
			"content_type": a.ContentType, "size": a.Size, "sha256": a.SHA256})
	}
	out["files"] = refs
}
