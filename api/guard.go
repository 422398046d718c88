package api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"sync"
	"time"

	"github.com/esmhq/esm/desk"
	"github.com/esmhq/esm/store"
	"github.com/gin-gonic/gin"
	"golang.org/x/time/rate"
)

// limiter keeps a token bucket per principal.
type limiter struct {
	mu      sync.Mutex
	rate    rate.Limit
	burst   int
	buckets map[string]*bucket
	swept   time.Time
}

type bucket struct {
	lim  *rate.Limiter
	seen time.Time
}

func newLimiter(perSecond float64, burst int) *limiter {
	return &limiter{rate: rate.Limit(perSecond), burst: burst, buckets: map[string]*bucket{}}
}

// allow takes a token for the principal, or says how long until one is there.
func (l *limiter) allow(who string, now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if now.Sub(l.swept) > 10*time.Minute { // forget idle principals
		for k, b := range l.buckets {
			if now.Sub(b.seen) > 10*time.Minute {
				delete(l.buckets, k)
			}
		}
		l.swept = now
	}
	b, ok := l.buckets[who]
	if !ok {
		b = &bucket{lim: rate.NewLimiter(l.rate, l.burst)}
		l.buckets[who] = b
	}
	b.seen = now
	r := b.lim.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}

// rateLimit answers 429 with Retry-After once a principal goes over its rate.
func (s *Server) rateLimit(c *gin.Context) {
	if s.limiter == nil {
		c.Next()
		return
	}
	ok, wait := s.limiter.allow(principal(c).ID, time.Now())
	if !ok {
		secs := int(math.Ceil(wait.Seconds()))
		c.Header("Retry-After", fmt.Sprint(secs))
		writeProblem(c, newProblem(http.StatusTooManyRequests, "rate-limited", "Too many requests",
			fmt.Sprintf("slow down: try again in %d s", secs)))
		return
	}
	c.Next()
}

// recorder keeps a copy of what a handler writes.
type recorder struct {
	gin.ResponseWriter
	body bytes.Buffer
}

func (r *recorder) Write(b []byte) (int, error) {
	r.body.Write(b)
	return r.ResponseWriter.Write(b)
}

// idempotent makes a state-changing call with an Idempotency-Key answer a repeat with the first
// answer (and Idempotent-Replayed: true), refuse the key reused for another body (422), and
// refuse a repeat while the first is still running (409). Submissions (POST /v1/requests) keep
// their own, stronger, mechanism.
func (s *Server) idempotent(c *gin.Context) {
	if c.Request.Method != http.MethodPost && c.Request.Method != http.MethodPut && c.Request.Method != http.MethodDelete {
		c.Next()
		return
	}
	key, p := idempotencyKey(c)
	if p != nil {
		writeProblem(c, p)
		return
	}
	if key == "" {
		c.Next()
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, maxBody))
	if err != nil {
		writeProblem(c, newProblem(http.StatusRequestEntityTooLarge, "too-large", "Body too large", fmt.Sprintf("the body may be at most %d bytes", maxBody)))
		return
	}
	c.Request.Body = io.NopCloser(bytes.NewReader(body))
	sum := sha256.Sum256(body)
	fp := hex.EncodeToString(sum[:])
	call := c.Request.Method + " " + c.Request.URL.Path
	who := principal(c).ID
	// The call runs to its end, and its answer is recorded, even when the caller hangs up: a
	// retry with the key then gets the real answer, not a claim nobody releases.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(c.Request.Context()), s.lease)
	defer cancel()
	prev, claimed, err := s.store.BeginCall(ctx, who, call, key, fp, s.now(), s.lease+leaseMargin)
	if err != nil {
		s.fail(c, err)
		return
	}
	if !claimed {
		switch {
		case prev.Fingerprint != fp:
			writeProblem(c, newProblem(http.StatusUnprocessableEntity, "idempotency-key-reused", "Idempotency-Key reused",
				fmt.Sprintf("Idempotency-Key %q was used for another body on %s", key, call)))
		case prev.Status == 0:
			c.Header("Retry-After", "1")
			writeProblem(c, errConflict(fmt.Sprintf("a call with Idempotency-Key %q is still in progress", key)))
		default:
			c.Header("Idempotent-Replayed", "true")
			ct := "application/json"
			if prev.Status >= 400 {
				ct = "application/problem+json"
			}
			c.Data(prev.Status, ct, []byte(prev.Body))
			c.Abort()
		}
		return
	}
	// A panic (or anything else that leaves before the answer is recorded) releases the claim,
	// on a context of its own.
	finished := false
	defer func() {
		if !finished {
			s.finishCall(c.Request.Context(), who, call, key, prev.Holder, 0, nil)
		}
	}()
	c.Request = c.Request.WithContext(desk.WithUpdateID(ctx, updateIDFor(who, call, key, fp)))
	rec := &recorder{ResponseWriter: c.Writer}
	c.Writer = rec
	c.Next()
	status := rec.Status()
	if status >= 500 {
		status = 0 // a failure of ours: the caller may try again with the same key
	}
	s.finishCall(ctx, who, call, key, prev.Holder, status, rec.body.Bytes())
	finished = true
}

// leaseMargin is how long a claim outlives the deadline of its call, so that a retry never takes
// over a call that is still recording its answer.
const leaseMargin = 10 * time.Second

// finishCall records a claimed call's answer (status 0 releases the claim) on a context that
// neither the caller's hanging up nor the call's own deadline ends.
func (s *Server) finishCall(parent context.Context, who, call, key, holder string, status int, body []byte) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(parent), 10*time.Second)
	defer cancel()
	switch err := s.store.FinishCall(ctx, who, call, key, holder, status, body); {
	case errors.Is(err, store.ErrNotHolder):
		s.log.WarnContext(ctx, "idempotent answer not recorded", "call", call, "key", key, "error", err)
	case err != nil:
		s.log.ErrorContext(ctx, "record idempotent answer", "error", err)
	}
}

// updateIDFor is the workflow update id a call with an Idempotency-Key sends (desk.WithUpdateID):
// derived from who calls, the call, the key and the body, so that a retry of a call that timed
// out (its workflow's worker was down) attaches to the update Temporal still holds instead of
// sending a second one, and another body under the same key is never taken for it.
func updateIDFor(who, call, key, fingerprint string) string {
	sum := sha256.Sum256([]byte(who + "\x00" + call + "\x00" + key + "\x00" + fingerprint))
	return "idem-" + hex.EncodeToString(sum[:16])
}
