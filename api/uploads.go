package api

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/esmhq/esm/desk"
	"github.com/esmhq/esm/store"
	"github.com/gin-gonic/gin"
)

// The upload routes (POST /v1/requests/{id}/attachments, and POST /v1/requests as
// multipart/form-data) stream their files from the socket: their bodies are neither cut by the
// server's read timeout (streamBody) nor read whole to be fingerprinted for an Idempotency-Key
// (idempotentUpload).

const (
	// DefaultUploadIdle is how long an upload may send nothing before it is cut (Config.UploadIdle).
	DefaultUploadIdle = time.Minute
	// DefaultUploadTimeout caps an upload's body, however steadily it streams (Config.UploadTimeout).
	DefaultUploadTimeout = time.Hour
	// uploadWriteGrace is how long after its body's read deadline an upload may take to answer.
	uploadWriteGrace = time.Minute
)

// uploadRoute reports whether the call streams files.
func uploadRoute(c *gin.Context) bool {
	if c.Request.Method != http.MethodPost {
		return false
	}
	switch c.FullPath() {
	case "/v1/requests/:id/attachments":
		return true
	case "/v1/requests":
		_, ok := isMultipart(c)
		return ok
	}
	return false
}

// streamBody lets an upload's body outlast the server's ReadTimeout (and its answer the
// WriteTimeout): each read of the body moves the connection's read deadline to now+UploadIdle,
// never past UploadTimeout after the call began, so a slow link streams a large file to its end
// while a client that stalls for UploadIdle (slowloris) is cut. A connection that does not take
// deadlines (http.ErrNotSupported) keeps the server's.
func (s *Server) streamBody(c *gin.Context) {
	b := &deadlineBody{ReadCloser: c.Request.Body, rc: http.NewResponseController(c.Writer),
		idle: s.uploadIdle, cap: s.uploadTimeout, end: time.Now().Add(s.uploadTimeout)}
	b.extend(time.Now())
	c.Request.Body = b
}

// deadlineBody is an upload's body whose reads move the connection's deadlines (streamBody).
type deadlineBody struct {
	io.ReadCloser
	rc        *http.ResponseController
	idle, cap time.Duration
	end       time.Time // the overall cap
	set       time.Time // when the deadlines were last moved
	off       bool      // the connection takes no deadlines
	failed    error     // the read that failed (a stall, the cap, a hang-up), if one did
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	b.extend(time.Now())
	n, err := b.ReadCloser.Read(p)
	if err != nil && err != io.EOF && b.failed == nil {
		b.failed = err
	}
	return n, err
}

// extend moves the deadlines, at most every idle/8 (so the idle allowed is between 7/8 of
// idle and idle).
func (b *deadlineBody) extend(now time.Time) {
	if b.off || now.Sub(b.set) < b.idle/8 {
		return
	}
	d := now.Add(b.idle)
	if d.After(b.end) {
		d = b.end
	}
	if err := b.rc.SetReadDeadline(d); err != nil {
		b.off = true
		return
	}
	_ = b.rc.SetWriteDeadline(d.Add(uploadWriteGrace))
	b.set = now
}

// bodyProblem is the answer to an upload whose body could not be read to its end because it
// stalled for longer than the idle allowed or passed the cap (408), or nil.
func bodyProblem(c *gin.Context) *Problem {
	b, ok := c.Request.Body.(*deadlineBody)
	if !ok || b.failed == nil || !errors.Is(b.failed, os.ErrDeadlineExceeded) {
		return nil
	}
	return newProblem(http.StatusRequestTimeout, "upload-timeout", "Upload timed out",
		fmt.Sprintf("the upload sent nothing for %s, or took longer than %s in all: send it again (with the same Idempotency-Key)", b.idle, b.cap))
}

// bodyFailed reports whether the upload's body could not be read to its end.
func bodyFailed(c *gin.Context) bool {
	b, ok := c.Request.Body.(*deadlineBody)
	return ok && b.failed != nil
}

// partsSeenKey holds, in the gin context of an upload with an Idempotency-Key, the
// fingerprint of the files the call streams (noteParts).
const partsSeenKey = "esm.partsSeen"

// partsSeen fingerprints the files of an upload as they stream: for each, its kind (the part's
// name), its file name and its task; not its bytes.
type partsSeen struct{ h hash.Hash }

func (p *partsSeen) sum() string { return hex.EncodeToString(p.h.Sum(nil))[:32] }

// noteParts passes next's files on, adding each to the call's partsSeen when it has one.
func noteParts(c *gin.Context, next desk.Uploads) desk.Uploads {
	v, ok := c.Get(partsSeenKey)
	if !ok {
		return next
	}
	seen := v.(*partsSeen)
	return func() (*desk.Upload, error) {
		up, err := next()
		if up != nil {
			fmt.Fprintf(seen.h, "%q %q %q\n", up.Kind, up.Name, up.Task)
		}
		return up, err
	}
}

// uploadHead fingerprints what an upload says before its body: the call (route and request
// id), its media type (not its boundary, which a client may draw anew for a retry) and its
// Content-Length when it sends one.
func uploadHead(c *gin.Context, call string) string {
	mt, _, _ := mime.ParseMediaType(c.GetHeader("Content-Type"))
	length := ""
	if c.Request.ContentLength >= 0 {
		length = strconv.FormatInt(c.Request.ContentLength, 10)
	}
	sum := sha256.Sum256([]byte(call + "\x00" + mt + "\x00" + length))
	return hex.EncodeToString(sum[:16])
}

// idempotentUpload is the Idempotency-Key guard (idempotent) for an upload, whose body is not
// read whole to be fingerprinted. The key is claimed under the upload's head (uploadHead); a
// 2xx answer is recorded with the fingerprint of the files it stored (partsSeen) appended. A
// repeat with another head is refused 422; one while the first still streams gets 409 with
// Retry-After; one after a recorded answer is told it again (Idempotent-Replayed: true), without
// storing anything, once its own files' names and kinds are read (their bytes are discarded)
// and found the same: otherwise 422. Which answers are kept is finalAnswer's rule, and an
// upload whose body could not be read to its end (it stalled, the caller hung up) releases the
// key. The claim's lease covers the whole upload: UploadTimeout plus IdempotencyLease.
func (s *Server) idempotentUpload(c *gin.Context) {
	key, p := idempotencyKey(c)
	if p != nil {
		writeProblem(c, p)
		return
	}
	if key == "" {
		c.Next()
		return
	}
	call := c.Request.Method + " " + c.Request.URL.Path
	head := uploadHead(c, call)
	who := principal(c).ID
	lease := s.uploadTimeout + s.lease
	ctx, cancel := context.WithTimeout(context.WithoutCancel(c.Request.Context()), lease)
	defer cancel()
	claimedAt := s.now()
	prev, claimed, err := s.store.BeginCall(ctx, who, call, key, head, claimedAt, lease+leaseMargin)
	if err != nil {
		s.fail(c, err)
		return
	}
	if !claimed {
		s.repeatUpload(c, call, key, head, prev)
		return
	}
	finished := false
	defer func() {
		if !finished {
			s.finishCall(c.Request.Context(), who, call, key, prev.Holder, 0, nil, "", claimedAt.Add(lease+leaseMargin))
		}
	}()
	seen := &partsSeen{h: sha256.New()}
	c.Set(partsSeenKey, seen)
	c.Request = c.Request.WithContext(ctx)
	rec := &recorder{ResponseWriter: c.Writer}
	c.Writer = rec
	c.Next()
	status := rec.Status()
	fp := ""
	if status >= 200 && status < 300 {
		fp = head + "." + seen.sum()
	}
	if !finalAnswer(status, rec.Header()) || bodyFailed(c) {
		status = 0
	}
	s.finishCall(ctx, who, call, key, prev.Holder, status, rec.body.Bytes(), fp, claimedAt.Add(lease+leaseMargin))
	finished = true
}

// repeatUpload answers an upload whose key was claimed before (idempotentUpload).
func (s *Server) repeatUpload(c *gin.Context, call, key, head string, prev store.IdempotentCall) {
	reused := func() {
		writeProblem(c, newProblem(http.StatusUnprocessableEntity, "idempotency-key-reused", "Idempotency-Key reused",
			fmt.Sprintf("Idempotency-Key %q was used for another upload on %s", key, call)))
	}
	prevHead, prevParts, _ := strings.Cut(prev.Fingerprint, ".")
	switch {
	case prevHead != head:
		reused()
		return
	case prev.Status == 0:
		c.Header("Retry-After", "5")
		writeProblem(c, errConflict(fmt.Sprintf("an upload with Idempotency-Key %q is still in progress", key)))
		return
	}
	if prevParts != "" {
		boundary, _ := isMultipart(c)
		seen := &partsSeen{h: sha256.New()}
		c.Set(partsSeenKey, seen)
		next := noteParts(c, partUploads(multipart.NewReader(c.Request.Body, boundary), true))
		for {
			up, err := next()
			if err == nil && up != nil {
				_, err = io.Copy(io.Discard, up.Body)
			}
			if err != nil {
				if p := bodyProblem(c); p != nil {
					writeProblem(c, p)
				} else {
					s.fail(c, err)
				}
				return
			}
			if up == nil {
				break
			}
		}
		if seen.sum() != prevParts {
			reused()
			return
		}
	}
	replay(c, prev)
}

// replay answers a repeat with the answer recorded for its key, marked Idempotent-Replayed.
func replay(c *gin.Context, prev store.IdempotentCall) {
	c.Header("Idempotent-Replayed", "true")
	ct := "application/json"
	if prev.Status >= 400 {
		ct = "application/problem+json"
	}
	c.Data(prev.Status, ct, []byte(prev.Body))
	c.Abort()
}
