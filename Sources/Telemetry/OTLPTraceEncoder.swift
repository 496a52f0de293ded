import Tracing

/// Finished spans as an OTLP `ExportTraceServiceRequest` (opentelemetry-proto,
/// `collector/trace/v1`), in protobuf's binary form: one resource (the service), one scope (the
/// gateway), the spans. Field numbers are the proto files'; the e2e receiver decodes the result
/// with the official generated classes.
public struct OTLPTraceEncoder: Sendable {
    /// The resource's attributes (`service.name`, `OTEL_RESOURCE_ATTRIBUTES`, …).
    public let resource: [(String, String)]
    public let scopeName: String

    public init(resource: [(String, String)], scopeName: String = "switchyard") {
        self.resource = resource
        self.scopeName = scopeName
    }

    public func encode(_ spans: [FinishedSpan]) -> [UInt8] {
        var request = ProtobufWriter()
        // A request's span is about a kilobyte: room for the batch at once.
        request.reserveCapacity(256 + spans.count * 1024)
        request.message(1) { resourceSpans in  // ExportTraceServiceRequest.resource_spans
            resourceSpans.message(1) { resource in  // ResourceSpans.resource
                for (key, value) in self.resource {
                    resource.message(1) { $0.keyValue(key, .string(value)) }  // Resource.attributes
                }
            }
            resourceSpans.message(2) { scopeSpans in  // ResourceSpans.scope_spans
                scopeSpans.message(1) { $0.string(1, scopeName) }  // ScopeSpans.scope (its name)
                for span in spans {
                    scopeSpans.message(2) { Self.encode(span, into: &$0) }  // ScopeSpans.spans
                }
            }
        }
        return request.bytes
    }

    static func encode(_ span: FinishedSpan, into writer: inout ProtobufWriter) {
        let identity = span.identity
        writer.bytes(1, bigEndian: [identity.traceIDHigh, identity.traceIDLow])  // trace_id
        writer.bytes(2, bigEndian: [identity.spanID])  // span_id
        if let state = identity.traceState { writer.string(3, state) }  // trace_state
        if let parent = span.parentSpanID { writer.bytes(4, bigEndian: [parent]) }  // parent_span_id
        writer.string(5, span.name)  // name
        writer.varint(6, UInt64(kindNumber(span.kind)))  // kind
        writer.fixed64(7, span.startNanos)  // start_time_unix_nano
        writer.fixed64(8, span.endNanos)  // end_time_unix_nano
        span.attributes.forEach { key, value in
            writer.message(9) { $0.keyValue(key, value) }  // attributes
        }
        for (key, value) in span.listed {
            writer.message(9) { $0.keyValue(key, value) }
        }
        if let facts = span.facts {
            // Written in place: the writer is moved into the sink and back, not copied.
            var sink = SpanAttributeWriter()
            swap(&sink.writer, &writer)
            facts.write(to: &sink)
            swap(&sink.writer, &writer)
        }
        for event in span.events {
            writer.message(11) { encoded in  // events
                encoded.fixed64(1, event.nanosecondsSinceEpoch)  // time_unix_nano
                encoded.string(2, event.name)  // name
                event.attributes.forEach { key, value in
                    encoded.message(3) { $0.keyValue(key, value) }  // attributes
                }
            }
        }
        if let status = span.status {
            writer.message(15) { encoded in  // status
                if let message = status.message { encoded.string(2, message) }
                encoded.varint(3, status.code == .error ? 2 : 1)  // STATUS_CODE_ERROR / _OK
            }
        }
        // flags: bit 0 sampled; bit 8 "whether the parent is remote is known", bit 9 "it is".
        writer.fixed32(16, (identity.sampled ? 0x1 : 0) | 0x100 | (span.parentIsRemote ? 0x200 : 0))
    }

    /// `Span.SpanKind`: INTERNAL 1, SERVER 2, CLIENT 3, PRODUCER 4, CONSUMER 5.
    static func kindNumber(_ kind: SpanKind) -> Int {
        switch kind {
        case .internal: 1
        case .server: 2
        case .client: 3
        case .producer: 4
        case .consumer: 5
        }
    }
}

extension ProtobufWriter {
    /// A `KeyValue` (key 1, value 2) with its `AnyValue`.
    mutating func keyValue(_ key: String, _ value: SpanAttribute) {
        string(1, key)
        message(2) { $0.anyValue(value) }
    }

    /// `AnyValue`: string 1, bool 2, int 3, double 4, array 5 (`ArrayValue.values`, field 1).
    mutating func anyValue(_ value: SpanAttribute) {
        switch value {
        case .int32(let number): signed(3, Int64(number))
        case .int64(let number): signed(3, number)
        case .double(let number): double(4, number)
        case .bool(let flag): varint(2, flag ? 1 : 0)
        case .string(let text): string(1, text)
        case .stringConvertible(let convertible): string(1, String(describing: convertible))
        case .int32Array(let numbers): array(numbers.map { .int32($0) })
        case .int64Array(let numbers): array(numbers.map { .int64($0) })
        case .doubleArray(let numbers): array(numbers.map { .double($0) })
        case .boolArray(let flags): array(flags.map { .bool($0) })
        case .stringArray(let texts): array(texts.map { .string($0) })
        case .stringConvertibleArray(let convertibles): array(convertibles.map { .string(String(describing: $0)) })
        @unknown default: string(1, "\(value)")
        }
    }

    private mutating func array(_ values: [SpanAttribute]) {
        message(5) { array in
            for value in values { array.message(1) { $0.anyValue(value) } }
        }
    }
}
