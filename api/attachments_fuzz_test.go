package api

import (
	"bytes"
	"errors"
	"io"
	"mime/multipart"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/esmhq/esm/files"
)

// FuzzMultipart feeds arbitrary multipart bodies (and so arbitrary part and file names) to the
// reader the upload routes stream from: never a panic; a malformed body is a 4xx problem; every
// file it yields has a kind and a name that, sanitised, is safe to keep and to give back in a
// Content-Disposition header (no path, no control character or quote, valid UTF-8, bounded).
func FuzzMultipart(f *testing.F) {
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	_ = w.SetBoundary("b0undary")
	_ = w.WriteField("task", "pay")
	fw, _ := w.CreateFormFile("receipt", "../../r\"e\x00c.pdf")
	_, _ = fw.Write([]byte("%PDF-1.4 receipt"))
	_ = w.Close()
	f.Add(buf.Bytes(), "b0undary")
	f.Add([]byte("--x\r\nContent-Disposition: form-data; name=\"photo\"; filename=\"C:\\\\a\\\\b.png\"\r\n\r\n\x89PNG\r\n--x--\r\n"), "x")
	f.Add([]byte("--x\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\nv\r\n--x--"), "x")
	f.Add([]byte("garbage"), "y")
	f.Fuzz(func(t *testing.T, body []byte, boundary string) {
		if boundary == "" || len(boundary) > 70 {
			return
		}
		next := partUploads(multipart.NewReader(bytes.NewReader(body), boundary), true)
		for range 100 {
			up, err := next()
			if err != nil {
				var p *Problem
				if !errors.As(err, &p) || p.Status < 400 || p.Status >= 500 {
					t.Fatalf("a bad body is not a 4xx problem: %v", err)
				}
				return
			}
			if up == nil {
				return
			}
			head := make([]byte, files.SniffLen)
			n, _ := io.ReadFull(up.Body, head)
			_ = files.Sniff(head[:n])
			_, _ = io.Copy(io.Discard, up.Body)
			checkSafeName(t, files.SafeName(up.Name))
		}
	})
}

func checkSafeName(t *testing.T, name string) {
	t.Helper()
	if name == "" || len(name) > files.MaxNameBytes || !utf8.ValidString(name) ||
		strings.ContainsAny(name, "/\\\"';\r\n") || strings.HasPrefix(name, ".") || name == ".." {
		t.Fatalf("unsafe name %q", name)
	}
	for _, r := range name {
		if unicode.IsControl(r) {
			t.Fatalf("control character in %q", name)
		}
	}
}
