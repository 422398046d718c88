// Package api is the HTTP front door: a Gin router under /v1 with bearer-token auth and
// problem+json errors. Each handler decodes and bounds what was sent, calls one method of the
// desk (package desk, where every rule and every workflow call lives) and answers; fail maps the
// desk's error kinds to problems. The store and the Temporal client are used here only for
// operational routes and guards: authentication, the idempotency guard, /readyz and /metrics.
// api/openapi.yaml is the contract.
package api

import (
	"context"
	_ "embed"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/esmhq/esm/catalog"
	"github.com/esmhq/esm/desk"
	"github.com/esmhq/esm/files"
	"github.com/esmhq/esm/store"
	"github.com/esmhq/esm/workflows"
	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
)

//go:embed openapi.yaml
var openapiDoc []byte

// OpenAPI returns the API's OpenAPI document.
func OpenAPI() []byte { return openapiDoc }

// Config holds what the server needs.
type Config struct {
	Store    *store.Store
	Temporal client.Client
	// JWTSecret verifies HS256 bearer tokens.
	JWTSecret []byte
	// SCIMToken, when set (ESM_SCIM_TOKEN), serves SCIM 2.0 provisioning at /scim/v2 to a
	// caller presenting it as a bearer token (api/scim.go); empty: /scim/v2 is not served.
	SCIMToken string
	Logger    *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Codec, when set, is served at /codec/encode and /codec/decode to operators, for the
	// Temporal UI (CodecOrigin is its origin, allowed by CORS). DevUI, set by esm dev alone,
	// lets the UI it started decode without a token (see DevUI).
	Codec       converter.PayloadCodec
	CodecOrigin string
	DevUI       *DevUI
	// JWKS, when set, verifies RS256 and ES256 tokens of an identity provider; Issuer and
	// Audience are the claims required (default "esm" for both).
	JWKS     *JWKS
	Issuer   string
	Audience string
	// Registry, when set, gets the API's metrics and is served at /metrics; Tracer traces each
	// call (a no-op tracer when nil).
	Registry *prometheus.Registry
	Tracer   trace.Tracer
	// RatePerSecond and Burst limit each principal's calls (0: 20 per second, bursts of 40;
	// negative: no limit).
	RatePerSecond float64
	Burst         int
	// IdempotencyLease bounds a call made with an Idempotency-Key (0: 2 minutes); its claim on
	// the key lapses a little after, so a retry takes over a call whose holder vanished.
	IdempotencyLease time.Duration
	// WorkflowWait bounds how long a call waits for a workflow to take and answer an update
	// (0: 10 seconds) and a Query (a third of it). A workflow whose worker is down or far
	// behind answers 503 with Retry-After after it, instead of holding the caller; the update
	// stays with Temporal and takes effect when a worker comes back, and a retry with the same
	// Idempotency-Key attaches to it (its update id derives from the key and the body).
	WorkflowWait time.Duration
	// RequestBounds, when set, bound the history of the requests submitted (tests lower them;
	// nil: the workflow's defaults, workflows.Bounds).
	RequestBounds *workflows.Bounds
	// Files keeps attachments (nil: calls that send or read files answer 503); Clamd, when
	// set, scans each upload (desk.Config).
	Files *files.Store
	Clamd *files.Clamd
	// UploadIdle is how long an upload (the files of POST /v1/requests/{id}/attachments or of a
	// multipart POST /v1/requests) may send nothing before it is cut (0: DefaultUploadIdle, a
	// minute); UploadTimeout caps its body however steadily it streams (0: DefaultUploadTimeout,
	// an hour; ESM_UPLOAD_TIMEOUT). Within them an upload outlasts the http.Server's
	// ReadTimeout and WriteTimeout (uploads.go).
	UploadIdle    time.Duration
	UploadTimeout time.Duration
}

// Server serves the ESM API.
type Server struct {
	files         *files.Store
	clamd         *files.Clamd
	scimToken     string
	codec         converter.PayloadCodec
	codecOrigin   string
	devUI         *DevUI
	limiter       *limiter
	lease         time.Duration
	uploadIdle    time.Duration
	uploadTimeout time.Duration
	wait          time.Duration
	registry      *prometheus.Registry
	metrics       *httpMetrics
	tracer        trace.Tracer
	jwks          *JWKS
	issuer        string
	audience      string
	store         *store.Store
	temporal      client.Client
	secret        []byte
	log           *slog.Logger
	now           func() time.Time
	bounds        *workflows.Bounds
	// desk holds every use case and its rules: handlers decode, call one of its methods and
	// answer (fail maps its error kinds to problems).
	desk *desk.Desk
	// draining ends when the server stops (StopWaiting): gets that wait for a request to close
	// (the desk's waits) answer at once, so that they do not hold the shutdown.
	draining    context.Context
	stopWaiting context.CancelFunc
}

// StopWaiting ends every wait of a get (?wait=) now and in the future, as the server begins to
// shut down: each answers with the request's state as it is.
func (s *Server) StopWaiting() { s.stopWaiting() }

// New returns a server.
func New(cfg Config) *Server {
	s := &Server{store: cfg.Store, temporal: cfg.Temporal, secret: cfg.JWTSecret, log: cfg.Logger, now: cfg.Now,
		codec: cfg.Codec, codecOrigin: cfg.CodecOrigin, devUI: cfg.DevUI, jwks: cfg.JWKS, issuer: cfg.Issuer, audience: cfg.Audience,
		bounds: cfg.RequestBounds, files: cfg.Files, clamd: cfg.Clamd, scimToken: cfg.SCIMToken}
	s.draining, s.stopWaiting = context.WithCancel(context.Background())
	s.tracer, s.registry = cfg.Tracer, cfg.Registry
	if s.tracer == nil {
		s.tracer = noop.NewTracerProvider().Tracer("esm")
	}
	if s.registry != nil && s.store != nil {
		s.metrics = newHTTPMetrics(s.registry, s.store)
	}
	if s.issuer == "" {
		s.issuer = TokenIssuer
	}
	if s.audience == "" {
		s.audience = TokenAudience
	}
	if s.log == nil {
		s.log = slog.Default()
	}
	switch {
	case cfg.RatePerSecond == 0:
		s.limiter = newLimiter(20, 40)
	case cfg.RatePerSecond > 0:
		s.limiter = newLimiter(cfg.RatePerSecond, max(cfg.Burst, 1))
	}
	if s.now == nil {
		s.now = time.Now
	}
	s.lease = cfg.IdempotencyLease
	if s.lease <= 0 {
		s.lease = 2 * time.Minute
	}
	s.uploadIdle, s.uploadTimeout = cfg.UploadIdle, cfg.UploadTimeout
	if s.uploadIdle <= 0 {
		s.uploadIdle = DefaultUploadIdle
	}
	if s.uploadTimeout <= 0 {
		s.uploadTimeout = DefaultUploadTimeout
	}
	s.wait = cfg.WorkflowWait // 0: the desk's default
	s.newDesk()
	return s
}

// newDesk makes the desk the handlers call, from the server's dependencies.
func (s *Server) newDesk() {
	s.desk = desk.New(desk.Config{Store: s.store, Temporal: s.temporal, Logger: s.log, Now: s.now,
		WorkflowWait: s.wait, RequestBounds: s.bounds, Draining: s.draining, Files: s.files, Clamd: s.clamd})
}

// Handler returns the router.
func (s *Server) Handler() http.Handler {
	s.newDesk() // on the dependencies as they are now (a test may swap one after New)
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.Use(gin.CustomRecovery(s.recovered))
	r.Use(s.observe, s.logRequests)
	r.HandleMethodNotAllowed = true
	r.NoRoute(func(c *gin.Context) { writeProblem(c, errNotFound("no such route: "+c.Request.URL.Path)) })
	r.NoMethod(func(c *gin.Context) {
		writeProblem(c, newProblem(http.StatusMethodNotAllowed, "method-not-allowed", "Method not allowed", c.Request.Method+" is not allowed on "+c.Request.URL.Path))
	})

	r.GET("/healthz", s.healthz)
	r.GET("/readyz", s.readyz)
	if s.registry != nil {
		r.GET("/metrics", s.metricsHandler())
	}
	r.GET("/openapi.yaml", func(c *gin.Context) { c.Data(http.StatusOK, "application/yaml", openapiDoc) })

	if s.codec != nil {
		s.codecRoutes(r) // codec.go
	}
	if s.scimToken != "" {
		s.scimRoutes(r, s.scimToken) // scim.go
	}

	v1 := r.Group("/v1", s.authenticate, s.rateLimit, s.idempotentExceptSubmit)
	v1.GET("/catalog/services", s.listServices)
	v1.GET("/catalog/services/:key", s.getService)
	v1.POST("/catalog/services/:key/quote", s.quoteService)
	v1.POST("/catalog/services", s.createService)
	v1.PUT("/catalog/services/:key/draft", s.saveDraft)
	v1.GET("/catalog/services/:key/lifecycle", s.getLifecycle)
	v1.POST("/catalog/services/:key/lifecycle", s.lifecycleAction)
	v1.POST("/requests", s.submit)
	v1.GET("/requests", s.listRequests)
	v1.GET("/requests/:id", s.getRequest)
	v1.POST("/requests/:id/decision", s.decide)
	v1.POST("/requests/:id/cancel", s.cancelRequest)
	v1.POST("/requests/:id/comments", s.comment)
	v1.POST("/requests/:id/attachments", s.attach)
	v1.GET("/requests/:id/attachments", s.listAttachments)
	v1.GET("/requests/:id/attachments/:file", s.downloadAttachment)
	v1.GET("/delegations", s.listDelegations)
	v1.POST("/delegations", s.createDelegation)
	v1.DELETE("/delegations/:id", s.deleteDelegation)
	v1.GET("/approvals", s.listApprovals)
	v1.GET("/reports/sla", s.slaReport)
	v1.GET("/tasks", s.listTasks)
	v1.POST("/tasks/:id/claim", s.claimTask)
	v1.POST("/tasks/:id/release", s.releaseTask)
	v1.POST("/tasks/:id/assign", s.assignTask)
	v1.POST("/tasks/:id/complete", s.completeTask)
	v1.POST("/tasks/:id/fail", s.failTask)
	v1.POST("/tasks/:id/ask", s.askTask)
	return r
}

// recovered answers a call whose handler panicked: 500, the panic logged.
func (s *Server) recovered(c *gin.Context, v any) {
	s.log.ErrorContext(c.Request.Context(), "panic", "path", c.Request.URL.Path, "panic", v)
	writeProblem(c, newProblem(http.StatusInternalServerError, "internal", "Internal error", "the server failed; the error is logged"))
}

// idempotentExceptSubmit applies the generic Idempotency-Key handling to every state-changing
// call but submission, which reserves a request number under the key itself (desk.Submit), and
// uploads, whose bodies stream and are never read whole to be fingerprinted: their key is
// idempotentUpload's, and their body may outlast the server's read timeout (streamBody).
func (s *Server) idempotentExceptSubmit(c *gin.Context) {
	if uploadRoute(c) {
		s.streamBody(c)
	}
	if c.Request.Method == http.MethodPost {
		switch c.FullPath() {
		case "/v1/requests":
			c.Next()
			return
		case "/v1/requests/:id/attachments":
			s.idempotentUpload(c)
			return
		}
	}
	s.idempotent(c)
}

// logRequests logs each call with its trace id, the principal, and the request and workflow it
// concerns.
func (s *Server) logRequests(c *gin.Context) {
	start := time.Now()
	c.Next()
	attrs := []any{"method", c.Request.Method, "route", c.FullPath(), "path", c.Request.URL.Path,
		"status", c.Writer.Status(), "duration_ms", time.Since(start).Milliseconds(),
		"trace_id", c.Writer.Header().Get("X-Trace-Id")}
	if p, ok := c.Get(principalKey); ok {
		attrs = append(attrs, "principal", p.(catalog.Person).ID)
	}
	if id := c.Param("id"); id != "" {
		req := strings.SplitN(id, ".", 2)[0]
		attrs = append(attrs, "request", req, "workflow_id", workflows.RequestWorkflowID(req))
	}
	s.log.InfoContext(c.Request.Context(), "http", attrs...)
}

func (s *Server) healthz(c *gin.Context) { c.JSON(http.StatusOK, gin.H{"status": "ok"}) }

// readyz answers 200 only when both the database and Temporal answer.
func (s *Server) readyz(c *gin.Context) {
	ctx, cancel := context.WithTimeout(c.Request.Context(), 3*time.Second)
	defer cancel()
	if err := s.store.Ping(ctx); err != nil {
		writeUnavailable(c, "database: "+err.Error())
		return
	}
	if _, err := s.temporal.CheckHealth(ctx, &client.CheckHealthRequest{}); err != nil {
		writeUnavailable(c, "temporal: "+err.Error())
		return
	}
	c.JSON(http.StatusOK, gin.H{"status": "ready", "database": s.store.Dialect()})
}
