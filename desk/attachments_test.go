package desk

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/esmhq/esm/catalog"
	"github.com/esmhq/esm/files"
	"github.com/esmhq/esm/files/filestest"
)

var pdf = []byte("%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\nreceipt: 120.00 EUR, Hotel Adlon, 2026-03-02\n%%EOF\n")

// uploads streams the files as a front door does, one at a time.
func uploads(list ...Upload) Uploads {
	return func() (*Upload, error) {
		if len(list) == 0 {
			return nil, nil
		}
		u := list[0]
		list = list[1:]
		return &u, nil
	}
}

func file(kind, name string, data []byte) Upload {
	return Upload{Kind: kind, Name: name, Body: bytes.NewReader(data)}
}

// wantField fails unless err is a validation error naming field with rule.
func wantField(t *testing.T, err error, field, rule string) {
	t.Helper()
	var ve *ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("want a validation error (%s %s), got %v", field, rule, err)
	}
	for _, fe := range ve.Fields {
		if fe.Field == field && fe.Rule == rule {
			return
		}
	}
	t.Fatalf("want %s (%s), got %+v", field, rule, ve.Fields)
}

// TestAttachments: a receipt is required by expense reimbursement; refused kinds, types and
// sizes; who may list, download and add (docs/ACCESS.md); the bytes at rest are not the file.
func TestAttachments(t *testing.T) {
	each(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		alice := f.person("alice")
		form := map[string]any{"amount": 120, "category": "travel", "description": "Hotel in Berlin"}
		submit := func(list ...Upload) (Submitted, error) {
			return f.desk.Submit(ctx, alice, SubmitInput{Service: "expense-reimbursement", Form: form, Files: uploads(list...)})
		}
		_, err := submit()
		wantField(t, err, "/attachments", "required")
		_, err = submit(file("receipt", "receipt.pdf", []byte("just text called a pdf")))
		wantField(t, err, "/attachments/0", "type")
		_, err = submit(file("photo", "receipt.pdf", pdf))
		wantField(t, err, "/attachments/0", "enum")
		big := append(append([]byte{}, pdf...), bytes.Repeat([]byte("x"), 10<<20)...)
		_, err = submit(file("receipt", "big.pdf", big))
		wantField(t, err, "/attachments/0", "maxBytes")
		if n := objects(t, f); n != 0 {
			t.Fatalf("refused submissions left %d objects", n)
		}

		out, err := submit(file("receipt", "../../Receipt \"Adlon\".pdf", pdf))
		if err != nil {
			t.Fatal(err)
		}
		list, err := f.desk.Attachments(ctx, alice, out.ID)
		if err != nil || len(list) != 1 {
			t.Fatalf("list: %v %v", list, err)
		}
		a := list[0]
		if a.Name != "Receipt _Adlon_.pdf" || a.ContentType != "application/pdf" || a.Size != int64(len(pdf)) || a.Kind != "receipt" || a.UploadedBy != "alice" {
			t.Fatalf("attachment %+v", a)
		}
		// At rest: the object is not the file, and holds none of its words.
		raw, err := os.ReadFile(filepath.Join(f.filesDir, "files", filepath.FromSlash(a.BlobKey)))
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(raw, []byte("Hotel Adlon")) || bytes.Contains(raw, []byte("%PDF")) {
			t.Fatal("the receipt is readable at rest")
		}

		download := func(who string) ([]byte, error) {
			_, r, err := f.desk.OpenAttachment(ctx, f.person(who), out.ID, a.ID)
			if err != nil {
				return nil, err
			}
			defer r.Close()
			return io.ReadAll(r)
		}
		f.openStep(t, out.ID)
		// The requester, the approver (bob, alice's manager), an operator read it.
		for _, who := range []string{"alice", "bob", "oscar"} {
			if got, err := download(who); err != nil || !bytes.Equal(got, pdf) {
				t.Fatalf("%s downloads: %v", who, err)
			}
		}
		// Someone who may not see the request: not found, for the list, the file and adding.
		_, err = download("erin")
		wantKind(t, err, ErrNotFound)
		_, err = f.desk.Attachments(ctx, f.person("erin"), out.ID)
		wantKind(t, err, ErrNotFound)
		_, err = f.desk.Attach(ctx, f.person("erin"), AttachInput{Request: out.ID, Files: uploads(file("receipt", "r.pdf", pdf))})
		wantKind(t, err, ErrNotFound)
		// An operator reads but does not add; a fulfiller before the task opens sees nothing.
		_, err = f.desk.Attach(ctx, f.person("oscar"), AttachInput{Request: out.ID, Files: uploads(file("receipt", "r.pdf", pdf))})
		wantKind(t, err, ErrForbidden)
		_, err = f.desk.Attach(ctx, f.person("flora"), AttachInput{Request: out.ID, Files: uploads(file("receipt", "r.pdf", pdf))})
		wantKind(t, err, ErrNotFound)
		_, err = download("flora")
		wantKind(t, err, ErrNotFound)
		// The approver adds one.
		if _, err := f.desk.Attach(ctx, f.person("bob"), AttachInput{Request: out.ID, Files: uploads(file("receipt", "second.pdf", pdf))}); err != nil {
			t.Fatalf("bob adds: %v", err)
		}
		f.approve(t, out.ID, "bob")
		// The task opened: a fulfiller (flora, finance-ap) lists, reads and adds one as the
		// task's output; a member of another group (finn, finance-procurement, the same
		// department) still sees nothing.
		waitFor(t, func() bool { _, err := download("flora"); return err == nil })
		if got, err := download("flora"); err != nil || !bytes.Equal(got, pdf) {
			t.Fatalf("flora downloads: %v", err)
		}
		if l, err := f.desk.Attachments(ctx, f.person("flora"), out.ID); err != nil || len(l) != 2 {
			t.Fatalf("flora lists: %+v %v", l, err)
		}
		got, err := f.desk.Attach(ctx, f.person("flora"), AttachInput{Request: out.ID, Files: uploads(Upload{Kind: "receipt", Name: "paid.pdf", Task: "pay", Body: bytes.NewReader(pdf)})})
		if err != nil || got[0].Task != "pay" {
			t.Fatalf("flora adds a task's file: %+v %v", got, err)
		}
		_, err = download("finn")
		wantKind(t, err, ErrNotFound)
		_, err = f.desk.Attachments(ctx, f.person("finn"), out.ID)
		wantKind(t, err, ErrNotFound)
		_, err = f.desk.Attach(ctx, f.person("finn"), AttachInput{Request: out.ID, Files: uploads(Upload{Kind: "receipt", Name: "x.pdf", Task: "pay", Body: bytes.NewReader(pdf)})})
		wantKind(t, err, ErrNotFound)
		// max_files is 5: three are there, three more are refused whole.
		_, err = f.desk.Attach(ctx, alice, AttachInput{Request: out.ID, Files: uploads(file("receipt", "a.pdf", pdf), file("receipt", "b.pdf", pdf), file("receipt", "c.pdf", pdf))})
		wantField(t, err, "/attachments/2", "maxItems")
		list, _ = f.desk.Attachments(ctx, alice, out.ID)
		if len(list) != 3 || objects(t, f) != 3 {
			t.Fatalf("after a refused batch: %d listed, %d stored", len(list), objects(t, f))
		}
	})
}

// TestAttachmentEICAR: with clamd, the EICAR test file is refused (422, rule infected) and never
// stored; a clean file goes through.
func TestAttachmentEICAR(t *testing.T) {
	addr := filestest.StartClamd(t, "")
	each(t, func(t *testing.T, f *fixture) {
		ctx := context.Background()
		alice := f.person("alice")
		_, err := f.desk.Submit(ctx, alice, SubmitInput{Service: "test-files", Files: uploads(file("evidence", "eicar.txt", filestest.EICAR))})
		wantField(t, err, "/attachments/0", "infected")
		if !strings.Contains(err.(*ValidationError).Fields[0].Detail, "Esm.Test.EICAR") {
			t.Fatalf("the refusal does not name the signature: %v", err)
		}
		if n := objects(t, f); n != 0 {
			t.Fatalf("an infected file left %d objects", n)
		}
		if _, err := f.desk.Submit(ctx, alice, SubmitInput{Service: "test-files", Files: uploads(file("evidence", "notes.txt", []byte("a clean note")))}); err != nil {
			t.Fatal(err)
		}
		if n := objects(t, f); n != 1 {
			t.Fatalf("%d objects after a clean file", n)
		}
	}, func(c *Config) { c.Clamd = &files.Clamd{Addr: addr} })
}

// objects counts the objects in the fixture's file store.
func objects(t *testing.T, f *fixture) int {
	t.Helper()
	n := 0
	_ = filepath.Walk(filepath.Join(f.filesDir, "files"), func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			n++
		}
		return nil
	})
	return n
}

func waitFor(t *testing.T, ok func() bool) {
	t.Helper()
	for range 600 {
		if ok() {
			return
		}
		sleep()
	}
	t.Fatal("waited 30s in vain")
}

func sleep() { time.Sleep(50 * time.Millisecond) }

var _ = catalog.TaskOpen
