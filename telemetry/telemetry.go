// Package telemetry wires metrics and traces: one Prometheus registry for the API's HTTP and
// business metrics and the Temporal SDK's client and worker metrics (through OpenTelemetry), and
// a tracer whose spans run from the HTTP call through workflow starts and updates into every
// workflow and activity (the SDK's OpenTelemetry interceptor).
package telemetry

import (
	"context"
	"errors"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.temporal.io/sdk/client"
	temporalotel "go.temporal.io/sdk/contrib/opentelemetry"
	"go.temporal.io/sdk/interceptor"
)

// Telemetry is what a process exports.
type Telemetry struct {
	Registry *prometheus.Registry
	Tracer   trace.Tracer
	meters   *sdkmetric.MeterProvider
	tracers  *sdktrace.TracerProvider
	sdk      client.MetricsHandler
	tracing  interceptor.Interceptor
}

// Options configure New.
type Options struct {
	// SpanExporter, when set, receives every span (OTLP in production, in memory in tests).
	SpanExporter sdktrace.SpanExporter
	// Sync exports each span as it ends (tests).
	Sync bool
}

// New builds the registry, the SDK's metrics handler and the tracing interceptor.
func New(opts Options) (*Telemetry, error) {
	t := &Telemetry{Registry: prometheus.NewRegistry()}
	t.Registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	exp, err := otelprom.New(otelprom.WithRegisterer(t.Registry))
	if err != nil {
		return nil, err
	}
	t.meters = sdkmetric.NewMeterProvider(sdkmetric.WithReader(exp))
	t.sdk = temporalotel.NewMetricsHandler(temporalotel.MetricsHandlerOptions{Meter: t.meters.Meter("temporal-sdk-go")})
	// Without an exporter spans are still made (so logs carry real trace ids) but dropped.
	var sp []sdktrace.TracerProviderOption
	switch {
	case opts.SpanExporter != nil && opts.Sync:
		sp = append(sp, sdktrace.WithSyncer(opts.SpanExporter))
	case opts.SpanExporter != nil:
		sp = append(sp, sdktrace.WithBatcher(opts.SpanExporter))
	}
	t.tracers = sdktrace.NewTracerProvider(sp...)
	t.Tracer = t.tracers.Tracer("esm")
	t.tracing, err = temporalotel.NewTracingInterceptor(temporalotel.TracerOptions{Tracer: t.Tracer,
		TextMapPropagator: propagation.TraceContext{}})
	if err != nil {
		return nil, err
	}
	return t, nil
}

// ClientOptions adds the SDK's metrics handler and the tracing interceptor to client options;
// a worker built on the client inherits both.
func (t *Telemetry) ClientOptions(o client.Options) client.Options {
	o.MetricsHandler = t.sdk
	o.Interceptors = append(o.Interceptors, t.tracing)
	return o
}

// Shutdown flushes what is pending.
func (t *Telemetry) Shutdown(ctx context.Context) error {
	return errors.Join(t.tracers.Shutdown(ctx), t.meters.Shutdown(ctx))
}
