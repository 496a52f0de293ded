import Tracing

/// A span's attributes kept as the caller's own value (a usage record, say) and written out only
/// when the span is exported, straight into the OTLP message: no `SpanAttribute` per value, no
/// list of pairs on the request path. The same `write` gives the pairs to a tracer that is not
/// ours (`SpanAttributeWriter.pairs`).
public protocol SpanFacts: Sendable {
    /// Writes each attribute once; names are distinct from the span's other attributes.
    func write(to sink: inout SpanAttributeWriter)
}

/// Where `SpanFacts` write their attributes: OTLP `KeyValue`s in the span being encoded (field 9,
/// `Span.attributes`), or the tracing API's pairs. One concrete type, not a protocol: the facts
/// are called through an existential, and a generic sink there went unspecialised.
public struct SpanAttributeWriter {
    var writer = ProtobufWriter()
    /// The pairs, when listing for another tracer (nil: writing protobuf).
    public private(set) var pairs: [(String, SpanAttribute)]?

    /// A writer that lists the pairs (`pairs`).
    public static func listing() -> SpanAttributeWriter { SpanAttributeWriter(pairs: []) }

    init(pairs: [(String, SpanAttribute)]? = nil) { self.pairs = pairs }

    /// One `KeyValue`: the key, and `AnyValue` with the field `value` writes (string 1, bool 2,
    /// int 3, double 4, array 5).
    private mutating func keyValue(_ key: String, _ value: (inout ProtobufWriter) -> Void) {
        writer.message(9) {
            $0.string(1, key)
            $0.message(2, value)
        }
    }

    public mutating func add(_ key: String, _ value: String) {
        if pairs != nil { return pairs!.append((key, .string(value))) }
        if writer.shortKeyValue(9, key: key, string: value) { return }
        keyValue(key) { $0.string(1, value) }
    }

    public mutating func add(_ key: String, _ value: Int64) {
        if pairs != nil { return pairs!.append((key, .int64(value))) }
        if writer.shortKeyValue(9, key: key, int: value) { return }
        keyValue(key) { $0.signed(3, value) }
    }

    public mutating func add(_ key: String, _ value: Double) {
        if pairs != nil { return pairs!.append((key, .double(value))) }
        keyValue(key) { $0.double(4, value) }
    }

    public mutating func add(_ key: String, _ value: Bool) {
        if pairs != nil { return pairs!.append((key, .bool(value))) }
        keyValue(key) { $0.varint(2, value ? 1 : 0) }
    }

    public mutating func add(_ key: String, _ values: [String]) {
        if pairs != nil { return pairs!.append((key, .stringArray(values))) }
        keyValue(key) { any in
            any.message(5) { array in
                for value in values { array.message(1) { $0.string(1, value) } }
            }
        }
    }
}
