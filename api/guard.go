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
// final answer (and Idempotent-Replayed: true), refuse the key reused for another body (422), and
// refuse a repeat while the first is still running (409 with Retry-After). Which answers are
// final, kept for the key, and which release it so that a retry runs the call again, is
// finalAnswer's rule. Submissions (POST /v1/requests) keep their own, stronger, mechanism.
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
	claimedAt := s.now()
	prev, claimed, err := s.store.BeginCall(ctx, who, call, key, fp, claimedAt, s.lease+leaseMargin)
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
			replay(c, prev) // uploads.go
		}
		return
	}
	// A panic (or anything else that leaves before the answer is recorded) releases the claim,
	// on a context of its own.
	finished := false
	defer func() {
		if !finished {
			s.finishCall(c.Request.Context(), who, call, key, prev.Holder, 0, nil, "", claimedAt.Add(s.lease+leaseMargin))
		}
	}()
	c.Request = c.Request.WithContext(desk.WithUpdateID(ctx, updateIDFor(who, call, key, fp)))
	rec := &recorder{ResponseWriter: c.Writer}
	c.Writer = rec
	c.Next()
	status := rec.Status()
	if !finalAnswer(status, rec.Header()) {
		status = 0 // nothing done, or not for good: the caller may try again with the same key
	}
	s.finishCall(ctx, who, call, key, prev.Holder, status, rec.body.Bytes(), "", claimedAt.Add(s.lease+leaseMargin))
	finished = true
}

// finalAnswer says whether a claimed call's answer is kept for its Idempotency-Key (replayed to
// every repeat) or releases the key (a repeat runs the call again and gets a fresh answer).
//
// Kept: what the call did (2xx), and what the use case decided on this very body, which a repeat
// of the same body would be told again: 400 (malformed), 413 (too large), 422 (validation), 410
// (gone: a retired service, a used link) and 409 without Retry-After (a conflict that is final:
// "already decided", "closed", "claimed by someone else").
//
// Released: answers where nothing was done and which depend on state that may catch up or
// change, so replaying them would keep a stale answer for good: 401 and 403 (who the caller is
// and may do: a token, a delegation, a group), 404 (the read model lags its workflows, e.g.
// after the database comes back, and an approver is not yet listed), 408, 409 with Retry-After
// ("busy", "still in progress"), 415 (a header the key's fingerprint does not cover), 429, any
// 5xx, and any other status. Of the statuses ESM answers, 401 and 429 come from middleware before
// the guard; they are listed so that the rule holds wherever the guard runs.
//
// Compared with Stripe (https://docs.stripe.com/idempotency): Stripe saves the first answer
// "after endpoint execution begins", 500s included, and saves nothing when the parameters fail
// validation or the call conflicts with one running concurrently. ESM agrees on the concurrent
// case (409 with Retry-After, nothing saved) and differs on two points, on purpose: a 5xx is
// released, since here it means a dependency was down and what was sent is retried to one
// outcome (a workflow update with the id updateIDFor derives), and a validation failure (400,
// 422) is kept, since it is the use case's decision on the body, the same for every repeat.
func finalAnswer(status int, h http.Header) bool {
	switch {
	case status >= 200 && status < 300:
		return true
	case status == http.StatusConflict:
		return h.Get("Retry-After") == ""
	}
	switch status {
	case http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusUnprocessableEntity, http.StatusGone:
		return true
	}
	return false
}

// leaseMargin is how long a claim outlives the deadline of its call, so that a retry never takes
// over a call that is still recording its answer.
const leaseMargin = 10 * time.Second

// finishCall records a claimed call's answer (status 0 releases the claim) on a context that
// neither the caller's hanging up nor the call's own deadline ends; fp, when set, replaces the
// claim's fingerprint with the answer (store.FinishCallAs: an upload's). When the database does not
// take it (it went away during the call, which is then a 503), it tries again in the
// background, every second or two, until it does or until the claim's lease ends (until),
// after which a retry takes the claim over anyway: a retry with the key then runs (or gets the
// recorded answer) as soon as the database is back, instead of 409 for the rest of the lease.
func (s *Server) finishCall(parent context.Context, who, call, key, holder string, status int, body []byte, fp string, until time.Time) {
	ctx := context.WithoutCancel(parent)
	err := s.tryFinish(ctx, who, call, key, holder, status, body, fp)
	if err == nil || errors.Is(err, store.ErrNotHolder) {
		return
	}
	s.log.WarnContext(ctx, "idempotent answer not recorded; trying again in the background",
		"call", call, "key", key, "status", status, "until", until, "error", err)
	deadline := time.Now().Add(until.Sub(s.now())) // on the wall clock, whatever s.now is
	go func() {
		wait := 250 * time.Millisecond
		for {
			if !time.Now().Add(wait).Before(deadline) {
				s.log.ErrorContext(ctx, "idempotent answer not recorded before the claim's lease ended",
					"call", call, "key", key, "status", status, "error", err)
				return
			}
			time.Sleep(wait)
			wait = min(2*wait, 2*time.Second)
			if err = s.tryFinish(ctx, who, call, key, holder, status, body, fp); err == nil || errors.Is(err, store.ErrNotHolder) {
				s.log.InfoContext(ctx, "idempotent answer recorded after all", "call", call, "key", key, "status", status, "error", err)
				return
			}
		}
	}()
}

// tryFinish makes one attempt of finishCall, of at most 10 seconds; ErrNotHolder is logged and
// returned (nothing to try again).
func (s *Server) tryFinish(ctx context.Context, who, call, key, holder string, status int, body []byte, fp string) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	err := s.store.FinishCallAs(ctx, who, call, key, holder, status, body, fp)
	if errors.Is(err, store.ErrNotHolder) {
		s.log.WarnContext(ctx, "idempotent answer not recorded", "call", call, "key", key, "error", err)
	}
	return err
}

// updateIDFor is the workflow update id a call with an Idempotency-Key sends (desk.WithUpdateID):
// derived from who calls, the call, the key and the body, so that a retry of a call that timed
// out (its workflow's worker was down) attaches to the update Temporal still holds instead of
// sending a second one, and another body under the same key is never taken for it.
func updateIDFor(who, call, key, fingerprint string) string {
	sum := sha256.Sum256([]byte(who + "\x00" + call + "\x00" + key + "\x00" + fingerprint))
	return "idem-" + hex.EncodeToString(sum[:16])
}
