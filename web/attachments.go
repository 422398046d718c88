package web

import (
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/esmhq/esm/catalog"
	"github.com/esmhq/esm/desk"
)

// Files go with a form as multipart/form-data: the form's fields first, then one file input per
// kind of file the service names (their order in the page), read with desk.Parts, the reader
// the API uses, and streamed to the desk part by part, never held whole. The desk checks
// everything (kind, type sniffed from the bytes, size, count, clamd); the page says a size or a
// type the input's data- attributes refuse before anything is sent (static/files.js), in the
// same words the server uses when it refuses the file without JavaScript.

// fileInput is one file input of a form: a kind of file the service takes.
type fileInput struct {
	Kind     string
	ID       string // the input's id (and, with "-error", its error's)
	Label    string
	Required bool
	Accept   string // the content types taken, for accept=
	MaxBytes int64
	Max      string // MaxBytes in words: 10MiB
	Types    string // the types in words: PDF, JPEG or PNG
	TooLarge string // the error when a file passes MaxBytes
	BadType  string // the error when a file's type is not taken
	Error    string
}

// typeWords names the content types a definition may take (catalog.AttachmentTypes).
var typeWords = map[string]string{"application/pdf": "PDF", "image/jpeg": "JPEG", "image/png": "PNG", "image/gif": "GIF",
	"image/webp": "WebP", "text/plain": "plain text", "application/zip": "ZIP"}

// fileInputs are the inputs for a service's kinds of file (spec nil: none); withRequired marks
// the required ones so (a submission's form; files added later are never required).
func fileInputs(spec *catalog.Attachments, withRequired bool) []fileInput {
	if spec == nil {
		return nil
	}
	types := spec.TypesTaken()
	words := make([]string, len(types))
	for i, t := range types {
		words[i] = typeWords[t]
		if words[i] == "" {
			words[i] = t
		}
	}
	inWords := strings.Join(words, ", ")
	if n := len(words); n > 1 {
		inWords = strings.Join(words[:n-1], ", ") + " or " + words[n-1]
	}
	max := catalog.ByteSize(spec.Bytes()).String()
	var out []fileInput
	for i, k := range spec.Kinds() {
		out = append(out, fileInput{Kind: k, ID: "file-" + k, Label: humanize(k), Required: withRequired && i < len(spec.Required),
			Accept: strings.Join(types, ","), MaxBytes: spec.Bytes(), Max: max, Types: inWords,
			TooLarge: fmt.Sprintf("This file is larger than %s: choose one of %s or less.", max, max),
			BadType:  fmt.Sprintf("This file is not a %s file: choose a %s file.", inWords, inWords)})
	}
	return out
}

// multipartBody answers r's multipart reader when r sends multipart/form-data.
func multipartBody(r *http.Request) (*multipart.Reader, bool) {
	mt, params, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "multipart/form-data" || params["boundary"] == "" {
		return nil, false
	}
	return multipart.NewReader(r.Body, params["boundary"]), true
}

// sentKinds records the kind of each file the desk is given, in order: the desk names a refused
// file /attachments/<i>.
type sentKinds struct {
	kinds []string
}

func (s *sentKinds) track(next desk.Uploads) desk.Uploads {
	return func() (*desk.Upload, error) {
		up, err := next()
		if up != nil {
			s.kinds = append(s.kinds, up.Kind)
		}
		return up, err
	}
}

// placeFileErrors puts the desk's refusals of files beside their inputs: /attachments/<i> beside
// the input of the i-th file sent (a size or type in the words static/files.js uses), a
// required kind missing beside its input; the rest is answered.
func placeFileErrors(inputs []fileInput, sent []string, errs []catalog.FieldError) (rest []catalog.FieldError) {
	at := func(kind string) *fileInput {
		for i := range inputs {
			if inputs[i].Kind == kind {
				return &inputs[i]
			}
		}
		return nil
	}
	var missing []string
	for _, in := range inputs {
		if in.Required && !slices.Contains(sent, in.Kind) {
			missing = append(missing, in.Kind)
		}
	}
	for _, fe := range errs {
		var in *fileInput
		if n, ok := strings.CutPrefix(fe.Field, "/attachments/"); ok {
			if i, err := strconv.Atoi(n); err == nil && i >= 0 && i < len(sent) {
				in = at(sent[i])
			}
		} else if fe.Field == "/attachments" && fe.Rule == "required" && len(missing) > 0 {
			in, missing = at(missing[0]), missing[1:]
		}
		if in == nil {
			rest = append(rest, fe)
			continue
		}
		if in.Error != "" {
			continue
		}
		switch fe.Rule {
		case "maxBytes":
			in.Error = in.TooLarge
		case "type":
			in.Error = in.BadType
		case "required":
			in.Error = "Choose the " + strings.ToLower(in.Label) + " to send with the request: the service requires one."
		default:
			in.Error = sentence(fe.Detail)
		}
	}
	return rest
}

// attachPage is the request page's "add a file" form: its inputs, with their errors.
type attachPage struct {
	Inputs []fileInput
	Error  string
}

// attach adds files to a request (desk.Attach): the page again with the refusal beside the
// input, or back to the page saying the file is added.
func (p *Portal) attach(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	mr, ok := multipartBody(r)
	if !ok {
		if err := p.desk.Visible(r.Context(), actor(r), id); err != nil {
			p.fail(w, r, err)
			return
		}
		p.renderStatus(w, r, http.StatusUnsupportedMediaType, "The form could not be read",
			"Files are sent as the page's form sends them (multipart/form-data). Go back, reload the page and send it again.")
		return
	}
	var sent sentKinds
	_, err := p.desk.Attach(r.Context(), actor(r), desk.AttachInput{Request: id, Files: sent.track(desk.NewParts(mr).Uploads(false))})
	if err == nil {
		http.Redirect(w, r, Base+"/requests/"+id+"?attached=1", http.StatusSeeOther)
		return
	}
	var ve *desk.ValidationError
	status, _ := statusOf(err)
	switch {
	case errors.Is(err, desk.ErrMalformed):
		p.formUnread(w, r, err)
		return
	case errors.As(err, &ve):
		p.showRequest(w, r, http.StatusUnprocessableEntity, requestPage{FileErrors: ve.Fields, FilesSent: sent.kinds})
		return
	case status == http.StatusNotFound || status == http.StatusInternalServerError:
		p.fail(w, r, err)
		return
	}
	p.showRequest(w, r, status, requestPage{Error: said(r, err)})
}

// download streams a request's file (desk.OpenAttachment) as the API does: a download
// (Content-Disposition: attachment, its sanitised name), its sniffed type, nosniff, and a
// sandbox CSP, so that a browser never runs it as a page of the portal.
func (p *Portal) download(w http.ResponseWriter, r *http.Request) {
	a, body, err := p.desk.OpenAttachment(r.Context(), actor(r), r.PathValue("id"), r.PathValue("file"))
	if err != nil {
		p.fail(w, r, err)
		return
	}
	defer body.Close()
	desk.DownloadHeaders(w.Header(), a)
	w.WriteHeader(http.StatusOK)
	if _, err := io.Copy(w, body); err != nil {
		p.log.WarnContext(r.Context(), "portal download cut short", "request", a.Request, "file", a.ID, "error", err)
	}
}
