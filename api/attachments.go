package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"

	"github.com/esmhq/esm/catalog"
	"github.com/esmhq/esm/desk"
	"github.com/gin-gonic/gin"
)

// Attachments travel as multipart/form-data, read part by part with multipart.Reader: a file
// streams from the socket through the desk (sniffing, size cap, clamd, encryption) into the
// file store, never whole in memory. A file part's form name is the kind of file (receipt,
// contract...), its filename the name kept (sanitised). A submission with files is a multipart
// POST /v1/requests whose first part, named "request", is the JSON body of a submission; then
// its files. With an Idempotency-Key a retried upload is told the first one's answer and stores
// nothing (uploads.go: idempotentUpload); a retried submission with files makes one request
// (desk.Submit). Without a key each POST stores its files, as HTTP has it for POST.

// maxField bounds a non-file part (the "request" JSON, a "task").
const maxField = maxBody

// isMultipart reports whether the call sends multipart/form-data, and its boundary.
func isMultipart(c *gin.Context) (string, bool) {
	mt, params, err := mime.ParseMediaType(c.GetHeader("Content-Type"))
	return params["boundary"], err == nil && mt == "multipart/form-data" && params["boundary"] != ""
}

// partUploads gives the file parts of mr to the desk one at a time (desk.Parts, the reader the
// portal shares): a "task" field part makes the files after it outputs of that task (when
// allowTask); a malformed body is a 400 problem, any other field part a 422.
func partUploads(mr *multipart.Reader, allowTask bool) desk.Uploads {
	return problemUploads(desk.NewParts(mr).Uploads(allowTask))
}

// problemUploads answers next's refusals as problems.
func problemUploads(next desk.Uploads) desk.Uploads {
	return func() (*desk.Upload, error) {
		up, err := next()
		if errors.Is(err, desk.ErrMalformed) {
			return nil, errBadRequest(err.Error())
		}
		if p := deskProblem(err); p != nil {
			return nil, p
		}
		return up, err
	}
}

// submitMultipart is a submission with files: the "request" part first, then the files.
func (s *Server) submitMultipart(c *gin.Context, boundary string) {
	mr := multipart.NewReader(c.Request.Body, boundary)
	part, err := mr.NextPart()
	if err != nil || part.FormName() != "request" || part.FileName() != "" {
		writeProblem(c, errValidation("a submission with files begins with its JSON body", catalog.FieldError{
			Field: "request", Rule: "required", Detail: "the first part is named request and holds the submission's JSON (service, form, quantity, priority); the files follow"}))
		return
	}
	data, err := io.ReadAll(io.LimitReader(part, maxField+1))
	if err != nil {
		writeProblem(c, errBadRequest("could not read the request part: "+err.Error()))
		return
	}
	if len(data) > maxField {
		writeProblem(c, newProblem(http.StatusRequestEntityTooLarge, "too-large", "Body too large", fmt.Sprintf("the request part may be at most %d bytes", maxField)))
		return
	}
	var body submitBody
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&body); err != nil {
		writeProblem(c, errValidation("the request part is not a submission", catalog.FieldError{Field: "request", Rule: "type", Detail: err.Error()}))
		return
	}
	out, err := s.desk.Submit(c.Request.Context(), principal(c), desk.SubmitInput{Service: body.Service, Form: body.Form,
		Quantity: body.Quantity, Priority: body.Priority, IdempotencyKey: c.GetHeader("Idempotency-Key"), Files: partUploads(mr, false)})
	if err != nil {
		if p := bodyProblem(c); p != nil {
			writeProblem(c, p)
			return
		}
		s.fail(c, err)
		return
	}
	c.Header("Location", "/v1/requests/"+out.ID)
	status := http.StatusCreated
	if out.Replayed {
		c.Header("Idempotent-Replayed", "true")
		status = http.StatusOK
	}
	c.JSON(status, submitted{ID: out.ID, Status: out.Status, Service: out.Service, Version: out.Version, Quote: out.Quote})
}

// attachmentList is the answer listing a request's files.
type attachmentList struct {
	Items []desk.Attachment `json:"items"`
}

// attach adds files to a request (desk.Attach): 201 with the files added.
func (s *Server) attach(c *gin.Context) {
	boundary, ok := isMultipart(c)
	if !ok {
		// A request the caller may not see is not found whatever was sent.
		if err := s.desk.Visible(c.Request.Context(), principal(c), c.Param("id")); err != nil {
			s.fail(c, err)
			return
		}
		writeProblem(c, newProblem(http.StatusUnsupportedMediaType, "unsupported-media-type", "Unsupported media type", "send multipart/form-data: one part per file, named by its kind"))
		return
	}
	added, err := s.desk.Attach(c.Request.Context(), principal(c), desk.AttachInput{Request: c.Param("id"),
		Files: noteParts(c, partUploads(multipart.NewReader(c.Request.Body, boundary), true))})
	if err != nil {
		if p := bodyProblem(c); p != nil {
			writeProblem(c, p)
			return
		}
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusCreated, attachmentList{Items: added})
}

// listAttachments lists a request's files (desk.Attachments).
func (s *Server) listAttachments(c *gin.Context) {
	list, err := s.desk.Attachments(c.Request.Context(), principal(c), c.Param("id"))
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, attachmentList{Items: list})
}

// downloadAttachment streams a file (desk.OpenAttachment) as a download: Content-Disposition
// attachment with its sanitised name, its sniffed type, nosniff, and a sandbox so that a browser
// never runs it as a page of ESM.
func (s *Server) downloadAttachment(c *gin.Context) {
	a, r, err := s.desk.OpenAttachment(c.Request.Context(), principal(c), c.Param("id"), c.Param("file"))
	if err != nil {
		s.fail(c, err)
		return
	}
	defer r.Close()
	desk.DownloadHeaders(c.Writer.Header(), a)
	c.Status(http.StatusOK)
	if _, err := io.Copy(c.Writer, r); err != nil && !errors.Is(err, io.ErrClosedPipe) {
		// The status is sent: the client sees a short body against Content-Length.
		s.log.WarnContext(c.Request.Context(), "download cut short", "request", a.Request, "file", a.ID, "error", err)
	}
}
