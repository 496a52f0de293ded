/// What swift-metrics does not carry and the exposition needs: each family's help text and, for
/// a histogram, its bucket bounds, by the family's Prometheus name.
public struct MetricFamilyCatalog: Sendable {
    public struct Family: Sendable {
        public var help: String
        /// A histogram's upper bounds (nil: the registry's latency buckets).
        public var buckets: [Double]?

        public init(help: String, buckets: [Double]? = nil) {
            self.help = help
            self.buckets = buckets
        }
    }

    private let families: [String: Family]

    public init(_ families: [String: Family] = [:]) { self.families = families }

    public func family(_ name: String) -> Family? { families[name] }

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
