package desk

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/url"
	"strconv"

	"github.com/esmhq/esm/catalog"
)

// Both front doors send files as multipart/form-data and read it here, part by part, so that a
// file streams from the socket through the desk into the file store and is never held whole.
// A part with a filename (in its Content-Disposition) is a file, its form name the kind it is
// sent as; any other part is a field. A browser sends a file input left empty as a file part
// with an empty filename and no bytes: such a part is skipped.

// ErrMalformed wraps what a multipart body that cannot be read answers (the front door's 400).
var ErrMalformed = errors.New("malformed multipart body")

// Parts reads a multipart body: its fields first (Fields), then its files (Uploads).
type Parts struct {
	mr      *multipart.Reader
	pending *multipart.Part // a file part Fields read and left for Uploads
	current *multipart.Part
}

// NewParts reads mr.
func NewParts(mr *multipart.Reader) *Parts { return &Parts{mr: mr} }

// isFile: the part's Content-Disposition carries a filename parameter (empty or not).
func isFile(part *multipart.Part) bool {
	_, params, err := mime.ParseMediaType(part.Header.Get("Content-Disposition"))
	_, ok := params["filename"]
	return err == nil && ok
}

// Fields reads the field parts that come before the first file, at most max bytes of values
// in all, and leaves that file for Uploads. Errors: ErrMalformed (wrapped), *ValidationError
// (rule maxLength: the fields pass max bytes, named by the field that did).
func (p *Parts) Fields(max int) (url.Values, error) {
	v := url.Values{}
	left := max
	for {
		part, err := p.mr.NextPart()
		if err == io.EOF {
			return v, nil
		}
		if err != nil {
			return v, fmt.Errorf("%w: %v", ErrMalformed, err)
		}
		if isFile(part) {
			p.pending = part
			return v, nil
		}
		b, err := io.ReadAll(io.LimitReader(part, int64(left)+1))
		if err != nil {
			return v, fmt.Errorf("%w: %v", ErrMalformed, err)
		}
		if len(b) > left {
			return v, invalid("the form is too large", catalog.FieldError{Field: part.FormName(), Rule: "maxLength",
				Detail: fmt.Sprintf("the fields may be %d bytes at most in all", max)})
		}
		left -= len(b)
		v.Add(part.FormName(), string(b))
	}
}

// Uploads gives the file parts to the desk one at a time (Submit, Attach), each Upload's Body
// the part itself, read once. With allowTask, a field part named "task" makes the files after
// it outputs of that task; any other field part among the files stops the call with a
// *ValidationError (rule unknown, the part's name as field); a body that cannot be read with
// ErrMalformed.
func (p *Parts) Uploads(allowTask bool) Uploads {
	task := ""
	return func() (*Upload, error) {
		if p.current != nil {
			_ = p.current.Close()
			p.current = nil
		}
		for {
			part := p.pending
			p.pending = nil
			if part == nil {
				var err error
				part, err = p.mr.NextPart()
				if err == io.EOF {
					return nil, nil
				}
				if err != nil {
					return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
				}
			}
			if !isFile(part) {
				if part.FormName() == "task" && allowTask {
					b, err := io.ReadAll(io.LimitReader(part, 200))
					if err != nil {
						return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
					}
					task = string(bytes.TrimSpace(b))
					continue
				}
				hint := "send files (parts with a filename) named by their kind"
				if allowTask {
					hint += ", and optionally a task part before them"
				}
				return nil, invalid("the body has a part this call does not take", catalog.FieldError{Field: part.FormName(), Rule: "unknown", Detail: hint})
			}
			var body io.Reader = part
			if part.FileName() == "" {
				// An empty file input: skipped when it holds no bytes.
				first := make([]byte, 1)
				n, err := io.ReadFull(part, first)
				if n == 0 {
					if err != nil && err != io.EOF {
						return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
					}
					_ = part.Close()
					continue
				}
				body = io.MultiReader(bytes.NewReader(first[:n]), part)
			}
			p.current = part
			return &Upload{Kind: part.FormName(), Name: part.FileName(), Task: task, Body: body}, nil
		}
	}
}

// DownloadHeaders are the headers both front doors send a file with: its sniffed type and size,
// Content-Disposition attachment with its sanitised name (never shown inline), nosniff, a
// sandbox CSP (a browser that shows it anyway runs nothing of it as a page of ESM), not cached.
func DownloadHeaders(h http.Header, a Attachment) {
	h.Set("Content-Type", a.ContentType)
	h.Set("Content-Length", strconv.FormatInt(a.Size, 10))
	h.Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": a.Name}))
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'none'; sandbox")
	h.Set("Cache-Control", "private, no-store")
}
