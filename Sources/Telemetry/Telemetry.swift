// Telemetry: the gateway's traces, recorded and exported over OTLP/HTTP, and its metrics pushed
// over OTLP/HTTP.
//
// Owns: `SpanRecorder`, a tracer behind the swift-distributed-tracing API (which the pipeline
// also calls directly, to name parents and add attributes as lists), the bounded queue its finished spans wait in (`SpanBuffer`), their OTLP protobuf
// encoding (`OTLPTraceEncoder`) and the service that posts them to a collector
// (`OTLPTraceExporter`), set up from the standard `OTEL_*` variables (`TraceExportSettings`).
//
// Why not swift-otel's tracer: it hands every span start and end to a task through an
// AsyncStream (four task switches per traced request, and a queue without a bound in front of its
// bounded one), which measured ~430,000 instructions per traced request (README, "Observability").
// Here a span's end is one append under a lock, and nothing else runs until the export.
//
// Also: the metrics push (`MetricsPush`), swift-otel's metrics backend set up from the file and
// the standard `OTEL_*` variables (`MetricsExportSettings`); `MetricsRegistry` feeds it beside
// swift-prometheus' registry. Its exporter runs off the request path, once per interval.
//
// May import: SwitchyardCore, Observability, Tracing, AsyncHTTPClient, NIOCore, ServiceLifecycle, Logging,
// CoreMetrics, OTel.
