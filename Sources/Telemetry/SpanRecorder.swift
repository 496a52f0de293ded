import Tracing

/// The gateway's tracer: every span it starts is recorded (whether a request is traced at all is
/// decided before, by the gateway's sampler), and ends in `buffer`, from which
/// `OTLPTraceExporter` takes it. Propagation is W3C Trace Context: `traceparent` and `tracestate`.
public final class SpanRecorder: Tracer {
    public typealias Span = RecordedSpan
    public let buffer: SpanBuffer

    public init(buffer: SpanBuffer) {
        self.buffer = buffer
    }

    public func startSpan<Instant: TracerInstant>(
        _ operationName: String, context: @autoclosure () -> InstrumentationContext, ofKind kind: SpanKind,
        at instant: @autoclosure () -> Instant, function: String, file fileID: String, line: UInt
    ) -> RecordedSpan {
        var context = context()
        let parent = context[SpanIdentityKey.self]
        let identity = parent?.child() ?? SpanIdentity.newTrace()
        context[SpanIdentityKey.self] = identity
        return RecordedSpan(
            name: operationName, kind: kind, context: context, identity: identity, parentSpanID: parent?.spanID,
            parentIsRemote: parent?.isRemote ?? false, startNanos: instant().nanosecondsSinceEpoch, buffer: buffer)
    }

    /// A span under `parent` (nil: a new trace), without an `InstrumentationContext`: the
    /// gateway's own spans name their parent directly, which spares a context (a dictionary) per
    /// span and the generic propagation calls.
    public func start(_ operationName: String, kind: SpanKind, parent: SpanIdentity?, startNanos: UInt64) -> RecordedSpan {
        RecordedSpan(
            name: operationName, kind: kind, context: nil, identity: parent?.child() ?? SpanIdentity.newTrace(),
            parentSpanID: parent?.spanID, parentIsRemote: parent?.isRemote ?? false, startNanos: startNanos, buffer: buffer)
    }

    /// Spans go out with the exporter's next batch; nothing to do here.
    public func forceFlush() {}

    /// Reads `traceparent` (and `tracestate`) into the context; an invalid one is ignored.
    public func extract<Carrier, Extract: Extractor>(
        _ carrier: Carrier, into context: inout InstrumentationContext, using extractor: Extract
    ) where Extract.Carrier == Carrier {
        guard let value = extractor.extract(key: "traceparent", from: carrier),
            let identity = SpanIdentity.parse(
                traceparent: value, traceState: extractor.extract(key: "tracestate", from: carrier))
        else { return }
        var remote = identity
        remote.isRemote = true
        context[SpanIdentityKey.self] = remote
    }

    /// Writes the context's span as `traceparent` (and its `tracestate`).
    public func inject<Carrier, Inject: Injector>(
        _ context: InstrumentationContext, into carrier: inout Carrier, using injector: Inject
    ) where Inject.Carrier == Carrier {
        guard let identity = context[SpanIdentityKey.self] else { return }
        injector.inject(identity.traceparent, forKey: "traceparent", into: &carrier)
        if let state = identity.traceState { injector.inject(state, forKey: "tracestate", into: &carrier) }
    }
}
