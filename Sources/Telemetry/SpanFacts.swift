import Tracing

/// A span's attributes kept as the caller's own value (a usage record, say) and written out only
/// when the span is exported, straight into the OTLP message: no `SpanAttribute` per value, no
/// list of pairs on the request path. The same `write` gives the pairs to a tracer that is not
/// ours (`SpanAttributeList`).
public protocol SpanFacts: Sendable {
    /// Writes each attribute once; names are distinct from the span's other attributes.
    func write<Sink: SpanAttributeSink>(to sink: inout Sink)
}

/// Where `SpanFacts` write their attributes.
public protocol SpanAttributeSink {
    mutating func add(_ key: String, _ value: String)
    mutating func add(_ key: String, _ value: Int64)
    mutating func add(_ key: String, _ value: Double)
    mutating func add(_ key: String, _ value: Bool)
    mutating func add(_ key: String, _ values: [String])
}

/// Facts as the tracing API's attribute pairs, for a span of another tracer.
public struct SpanAttributeList: SpanAttributeSink {
    public private(set) var pairs: [(String, SpanAttribute)] = []

    public init() {}

    public mutating func add(_ key: String, _ value: String) { pairs.append((key, .string(value))) }
    public mutating func add(_ key: String, _ value: Int64) { pairs.append((key, .int64(value))) }
    public mutating func add(_ key: String, _ value: Double) { pairs.append((key, .double(value))) }
    public mutating func add(_ key: String, _ value: Bool) { pairs.append((key, .bool(value))) }
    public mutating func add(_ key: String, _ values: [String]) { pairs.append((key, .stringArray(values))) }
}

/// Facts written as OTLP `KeyValue`s in the span being encoded (field 9, `Span.attributes`).
struct OTLPAttributeWriter: SpanAttributeSink {
    var writer = ProtobufWriter()

    /// One `KeyValue`: the key, and `AnyValue` with the field `value` writes (string 1, bool 2,
    /// int 3, double 4, array 5).
    private mutating func keyValue(_ key: String, _ value: (inout ProtobufWriter) -> Void) {
        writer.message(9) {
            $0.string(1, key)
            $0.message(2, value)
        }
    }

    mutating func add(_ key: String, _ value: String) { keyValue(key) { $0.string(1, value) } }
    mutating func add(_ key: String, _ value: Int64) { keyValue(key) { $0.signed(3, value) } }
    mutating func add(_ key: String, _ value: Double) { keyValue(key) { $0.double(4, value) } }
    mutating func add(_ key: String, _ value: Bool) { keyValue(key) { $0.varint(2, value ? 1 : 0) } }

    mutating func add(_ key: String, _ values: [String]) {
        keyValue(key) { any in
            any.message(5) { array in
                for value in values { array.message(1) { $0.string(1, value) } }
            }
        }
    }
}
