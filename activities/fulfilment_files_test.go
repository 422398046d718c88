package activities_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/esmhq/esm/activities"
	"github.com/esmhq/esm/catalog"
	"github.com/esmhq/esm/codec"
	"github.com/esmhq/esm/files"
	"github.com/esmhq/esm/store"
	"github.com/esmhq/esm/store/storetest"
	"go.temporal.io/sdk/temporal"
)

// letterPDF is a small PDF (Sniff names it by its %PDF- header).
var letterPDF = []byte("%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\n% signed by Legal, REQ-000042\ntrailer << /Root 1 0 R >>\n%%EOF\n")

// fileStore opens an encrypted directory file store of the test's own.
func fileStore(t *testing.T) (*files.Store, string) {
	t.Helper()
	c, err := codec.Parse(codec.NewKey("k1"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	u := (&url.URL{Scheme: "file", Path: filepath.ToSlash(dir), RawQuery: "metadata=skip"}).String()
	fs, err := files.Open(context.Background(), u, c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = fs.Close() })
	return fs, dir
}

// objects lists what is at rest under dir.
func objects(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	_ = filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			out = append(out, p)
		}
		return nil
	})
	return out
}

// TestCallFiles: an automation's answer carries a signed letter; the call, made twice (a retry
// after a worker died before the answer was recorded), stores it once, encrypted at rest, as an
// output of the task, and the outputs name it by id, never by its bytes.
func TestCallFiles(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		fs, dir := fileStore(t)
		var calls atomic.Int32
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			n := calls.Add(1)
			content := letterPDF
			if n > 1 { // a retry may be answered with another rendering of the letter
				content = append(bytes.Clone(letterPDF), []byte("% again\n")...)
			}
			_ = json.NewEncoder(w).Encode(map[string]any{
				"reference": "LTR-7",
				"files":     []any{map[string]any{"name": "../letter.pdf", "kind": "signed_letter", "content_base64": base64.StdEncoding.EncodeToString(content)}},
			})
		}))
		defer srv.Close()
		f := &activities.Fulfilment{Store: s, Files: fs}
		rules := &catalog.Attachments{Optional: []string{"evidence", "signed_letter"}, Types: []string{"application/pdf"}}
		in := activities.CallInput{Call: catalog.Rendered{Method: "POST", URL: srv.URL}, IdempotencyKey: "REQ-000042.sign",
			Files: &activities.CallFiles{Request: "REQ-000042", Task: "sign", Rules: rules}}
		var outs []string
		for range 2 {
			res, err := f.Call(ctx, in)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := json.Marshal(res.Outputs)
			if strings.Contains(string(b), base64.StdEncoding.EncodeToString(letterPDF)[:40]) {
				t.Fatalf("the outputs carry the file's bytes: %s", b)
			}
			if res.Outputs["reference"] != "LTR-7" {
				t.Errorf("the rest of the answer is no longer the outputs: %s", b)
			}
			outs = append(outs, string(b))
		}
		if outs[0] != outs[1] {
			t.Errorf("the retry answered other files:\n%s\n%s", outs[0], outs[1])
		}
		list, err := s.Attachments(ctx, "REQ-000042")
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != 1 {
			t.Fatalf("%d files recorded after two attempts, want 1: %+v", len(list), list)
		}
		a := list[0]
		if a.ID != activities.CallFileID("REQ-000042", "sign", 0) || a.Task != "sign" || a.Kind != "signed_letter" || a.Name != "letter.pdf" ||
			a.ContentType != "application/pdf" || a.Size != int64(len(letterPDF)) || a.UploadedBy != activities.CallFileUploader {
			t.Errorf("recorded %+v", a)
		}
		if !strings.Contains(outs[0], `"id":"`+a.ID+`"`) {
			t.Errorf("the outputs do not name the file %s: %s", a.ID, outs[0])
		}
		if objs := objects(t, dir); len(objs) != 1 {
			t.Errorf("objects at rest %v, want the recorded one only (the retry's deleted)", objs)
		}
		raw, err := fs.OpenRaw(ctx, a.BlobKey)
		if err != nil {
			t.Fatal(err)
		}
		rest, _ := io.ReadAll(raw)
		_ = raw.Close()
		if bytes.Contains(rest, []byte("%PDF")) || bytes.Contains(rest, []byte("signed by Legal")) {
			t.Error("the letter is stored in clear")
		}
		r, err := fs.Open(ctx, a.BlobKey)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(r)
		_ = r.Close()
		if !bytes.Equal(got, letterPDF) {
			t.Errorf("the stored letter reads back as %q", got)
		}
	})
}

// TestCallFilesRefused: a file the service does not take fails the call for good, naming the
// rule, and nothing is stored; an answer without CallInput.Files keeps "files" as it came.
func TestCallFilesRefused(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		fs, dir := fileStore(t)
		var answer atomic.Value
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = w.Write([]byte(answer.Load().(string)))
		}))
		defer srv.Close()
		f := &activities.Fulfilment{Store: s, Files: fs}
		file := func(kind string, content []byte) string {
			b, _ := json.Marshal(map[string]any{"files": []any{map[string]any{"name": "x", "kind": kind, "content_base64": base64.StdEncoding.EncodeToString(content)}}})
			return string(b)
		}
		rules := &catalog.Attachments{Optional: []string{"signed_letter"}, Types: []string{"application/pdf"}, MaxBytes: catalog.ByteSize(len(letterPDF) + 10)}
		in := activities.CallInput{Call: catalog.Rendered{Method: "POST", URL: srv.URL}, IdempotencyKey: "REQ-000043.sign",
			Files: &activities.CallFiles{Request: "REQ-000043", Task: "sign", Rules: rules}}
		for _, tc := range []struct{ name, answer, want string }{
			{"kind", file("photo", letterPDF), "kinds"},
			{"type", file("signed_letter", []byte("just text, not a letter")), "text/plain"},
			{"size", file("signed_letter", append(bytes.Clone(letterPDF), bytes.Repeat([]byte("x"), 64)...)), "larger than"},
			{"base64", `{"files":[{"name":"x","kind":"signed_letter","content_base64":"%%%"}]}`, "not base64"},
			{"no kind without a block", file("", letterPDF), "kind"},
		} {
			answer.Store(tc.answer)
			in := in
			if tc.name == "no kind without a block" {
				in.Files = &activities.CallFiles{Request: "REQ-000043", Task: "sign"}
			}
			_, err := f.Call(ctx, in)
			var app *temporal.ApplicationError
			if !errors.As(err, &app) || app.Type() != activities.ErrBadAnswer || !app.NonRetryable() || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%s: %v, want a non-retryable %s naming %q", tc.name, err, activities.ErrBadAnswer, tc.want)
			}
		}
		if list, _ := s.Attachments(ctx, "REQ-000043"); len(list) != 0 {
			t.Errorf("refused files recorded: %+v", list)
		}
		if objs := objects(t, dir); len(objs) != 0 {
			t.Errorf("refused files left at rest: %v", objs)
		}
		// An older request's call (no Files): the answer is its outputs, as before.
		answer.Store(file("signed_letter", letterPDF))
		res, err := f.Call(ctx, activities.CallInput{Call: catalog.Rendered{Method: "POST", URL: srv.URL}, IdempotencyKey: "REQ-000044.sign"})
		if err != nil {
			t.Fatal(err)
		}
		if l, _ := res.Outputs["files"].([]any); len(l) != 1 || l[0].(map[string]any)["content_base64"] == nil {
			t.Errorf("outputs of a call without Files: %v", res.Outputs)
		}
	})
}
