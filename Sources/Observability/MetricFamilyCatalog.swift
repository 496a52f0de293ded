/// What swift-metrics does not carry and the two outputs need: each family's help text, unit,
/// name in Prometheus' exposition and, for a histogram, its bucket bounds, by the label the
/// family is recorded under (its OpenTelemetry name: `gen_ai.client.token.usage`, or ours,
/// `switchyard_requests_total`, which both outputs keep as it is).
public struct MetricFamilyCatalog: Sendable {
    public struct Family: Sendable {
        public var help: String
        /// The OpenTelemetry unit (`s`, `{token}`), pushed with the family.
        public var unit: String?
        /// The family's name in the exposition, when it is not the label made valid (the
        /// conventions' translation adds the unit: `gen_ai_client_operation_duration_seconds`).
        public var prometheusName: String?
        /// A histogram's upper bounds (nil: the registry's latency buckets).
        public var buckets: [Double]?

        public init(help: String, unit: String? = nil, prometheusName: String? = nil, buckets: [Double]? = nil) {
            self.help = help
            self.unit = unit
            self.prometheusName = prometheusName
            self.buckets = buckets
        }
    }

    private let families: [String: Family]

    public init(_ families: [String: Family] = [:]) { self.families = families }

    public func family(_ label: String) -> Family? { families[label] }

    /// Every family's label and entry, for the push backend's bucket bounds.
    public var all: [String: Family] { families }

    /// `label` as a valid Prometheus metric or label name (`[a-zA-Z_:][a-zA-Z0-9_:]*`): every
    /// other character becomes `_`, and a leading digit gets one in front. Our own names are
    /// valid already and come back as they are.
    public static func prometheusName(_ label: String) -> String { validName(label, colons: true) }

    /// `label` as a valid Prometheus label name (`[a-zA-Z_][a-zA-Z0-9_]*`: no colons), mended the
    /// same way.
    public static func prometheusLabelName(_ label: String) -> String { validName(label, colons: false) }

    private static func validName(_ label: String, colons: Bool) -> String {
        func allowed(_ byte: UInt8, first: Bool) -> Bool {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "_"): true
            case UInt8(ascii: ":"): colons
            case UInt8(ascii: "0")...UInt8(ascii: "9"): !first
            default: false
            }
        }
        var valid = !label.isEmpty
        for (index, byte) in label.utf8.enumerated() where !allowed(byte, first: index == 0) {
            valid = false
            break
        }
        if valid { return label }
        var name = label.utf8.map { byte in allowed(byte, first: false) ? Character(Unicode.Scalar(byte)) : "_" }
        if name.first.map({ $0.isNumber }) ?? true { name.insert("_", at: 0) }
        return String(name)
    }
}
