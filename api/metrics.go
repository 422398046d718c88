package api

import (
	"context"
	"strconv"
	"time"

	"github.com/esmhq/esm/store"
	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// httpMetrics are the API's own metrics.
type httpMetrics struct {
	duration *prometheus.HistogramVec
}

func newHTTPMetrics(reg prometheus.Registerer, s *store.Store) *httpMetrics {
	m := &httpMetrics{duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "esm_http_request_duration_seconds", Help: "API calls by route, method and status.",
		Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
	}, []string{"route", "method", "status"})}
	reg.MustRegister(m.duration, figures{s})
	return m
}

// figures collects the business figures from the read model at each scrape, so every process
// (and every replica) reports the same numbers.
type figures struct{ store *store.Store }

var (
	descSubmitted = prometheus.NewDesc("esm_requests_submitted_total", "Requests submitted, by service and department.", []string{"service", "department"}, nil)
	descOpen      = prometheus.NewDesc("esm_requests_open", "Requests not closed, by status and department.", []string{"status", "department"}, nil)
	descPending   = prometheus.NewDesc("esm_approvals_pending", "Approvers waiting to decide.", nil, nil)
	descSLA       = prometheus.NewDesc("esm_sla_events_total", "SLA warnings and breaches.", []string{"type"}, nil)
)

func (f figures) Describe(ch chan<- *prometheus.Desc) {
	ch <- descSubmitted
	ch <- descOpen
	ch <- descPending
	ch <- descSLA
}

func (f figures) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	fig, err := f.store.Figures(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(descSubmitted, err)
		return
	}
	for _, c := range fig.Submitted {
		ch <- prometheus.MustNewConstMetric(descSubmitted, prometheus.CounterValue, float64(c.N), c.A, c.B)
	}
	for _, c := range fig.Open {
		ch <- prometheus.MustNewConstMetric(descOpen, prometheus.GaugeValue, float64(c.N), c.A, c.B)
	}
	ch <- prometheus.MustNewConstMetric(descPending, prometheus.GaugeValue, float64(fig.PendingApprovals))
	for _, c := range fig.SLAEvents {
		ch <- prometheus.MustNewConstMetric(descSLA, prometheus.CounterValue, float64(c.N), c.A)
	}
}

// longPollKey marks a call that waited on purpose (a get with wait), so that its time does not
// count as the route's latency.
const longPollKey = "esm.long-poll"

// observe traces each call (the span's context goes on to Temporal, whose interceptor carries
// it into the workflows and activities) and records its duration.
func (s *Server) observe(c *gin.Context) {
	start := time.Now()
	route := c.FullPath()
	if route == "" {
		route = "unmatched"
	}
	ctx, span := s.tracer.Start(c.Request.Context(), c.Request.Method+" "+route, trace.WithSpanKind(trace.SpanKindServer),
		trace.WithAttributes(attribute.String("http.route", route), attribute.String("http.method", c.Request.Method)))
	defer span.End()
	c.Request = c.Request.WithContext(ctx)
	c.Header("X-Trace-Id", span.SpanContext().TraceID().String())
	c.Next()
	status := c.Writer.Status()
	span.SetAttributes(attribute.Int("http.status_code", status))
	if status >= 500 {
		span.SetStatus(codes.Error, strconv.Itoa(status))
	}
	if c.GetBool(longPollKey) {
		route += "?wait" // a long poll's time is the wait's, not the server's: kept apart
	}
	if s.metrics != nil {
		s.metrics.duration.WithLabelValues(route, c.Request.Method, strconv.Itoa(status)).Observe(time.Since(start).Seconds())
	}
}

func (s *Server) metricsHandler() gin.HandlerFunc {
	return gin.WrapH(promhttp.HandlerFor(s.registry, promhttp.HandlerOpts{}))
}
