import Logging

/// Tracing as the gateway runs it: the tracer its pipeline records with, the service that
/// exports what it records, and which requests to trace.
public struct Traces: Sendable {
    public let recorder: SpanRecorder
    public let exporter: OTLPTraceExporter
    public let sampling: TraceExportSettings.Sampling
    /// Whether the tail rule may keep what head sampling dropped.
    public let tailRule: Bool

    public init(settings: TraceExportSettings, logger: Logger) {
        let buffer = SpanBuffer(capacity: settings.maxQueueSize, batchSize: settings.maxExportBatchSize)
        self.recorder = SpanRecorder(buffer: buffer)
        self.exporter = OTLPTraceExporter(
            settings: settings, buffer: buffer, encoder: OTLPTraceEncoder(resource: settings.resource),
            logger: logger)
        self.sampling = settings.sampling
        self.tailRule = settings.tailRule
    }
}
