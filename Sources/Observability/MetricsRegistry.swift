import Synchronization

/// Counters and histograms kept in process and rendered in Prometheus' text format.
///
/// Small on purpose: a handful of metric families with low-cardinality labels. Updates take a
/// short lock per family; `/metrics` renders a snapshot.
public final class MetricsRegistry: Sendable {
    public static let latencyBuckets: [Double] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120]

    private let families = Mutex<[String: Family]>([:])
    private let order = Mutex<[String]>([])

    public init() {}

    struct Family {
        var help: String
        var kind: Kind
        var counters: [Labels: Int64] = [:]
        var gauges: [Labels: Int64] = [:]
        var histograms: [Labels: Histogram] = [:]
    }

    enum Kind: String { case counter, gauge, histogram }

    public struct Labels: Hashable, Sendable {
        let pairs: [(String, String)]

        public init(_ pairs: [(String, String)]) { self.pairs = pairs }

        public static func == (lhs: Labels, rhs: Labels) -> Bool {
            lhs.pairs.count == rhs.pairs.count && zip(lhs.pairs, rhs.pairs).allSatisfy { $0 == $1 }
        }

        public func hash(into hasher: inout Hasher) {
            for (name, value) in pairs {
                hasher.combine(name)
                hasher.combine(value)
            }
        }

        func rendered(extra: (String, String)? = nil) -> String {
            var all = pairs
            if let extra { all.append(extra) }
            if all.isEmpty { return "" }
            return "{" + all.map { "\($0.0)=\"\(Self.escape($0.1))\"" }.joined(separator: ",") + "}"
        }

        static func escape(_ value: String) -> String {
            value.replacing("\\", with: "\\\\").replacing("\"", with: "\\\"").replacing("\n", with: "\\n")
        }
    }

    struct Histogram {
        var bucketCounts = [Int64](repeating: 0, count: MetricsRegistry.latencyBuckets.count)
        var sum: Double = 0
        var count: Int64 = 0

        mutating func record(_ seconds: Double) {
            for (index, bound) in MetricsRegistry.latencyBuckets.enumerated() where seconds <= bound {
                bucketCounts[index] += 1
            }
            sum += seconds
            count += 1
        }
    }

    /// Several updates under one lock: a request's half-dozen updates take the lock (shared by
    /// every event loop) once instead of once each.
    public func batch(_ body: (inout Batch) -> Void) {
        let added = families.withLock { families -> [String] in
            // Swapped in and out, not copied: the dictionary stays uniquely referenced.
            var batch = Batch()
            swap(&batch.families, &families)
            body(&batch)
            swap(&batch.families, &families)
            return batch.added
        }
        if !added.isEmpty { order.withLock { $0 += added } }
    }

    /// Updates applied by `batch`, inside its lock.
    public struct Batch {
        fileprivate var families: [String: Family] = [:]
        /// Families created in this batch, in order, for rendering.
        fileprivate var added: [String] = []

        public mutating func increment(_ name: String, help: String, labels: [(String, String)] = [], by amount: Int64 = 1) {
            update(name, help: help, kind: .counter) { $0.counters[Labels(labels), default: 0] += amount }
        }

        public mutating func set(_ name: String, help: String, labels: [(String, String)] = [], to value: Int64) {
            update(name, help: help, kind: .gauge) { $0.gauges[Labels(labels)] = value }
        }

        public mutating func observe(_ name: String, help: String, labels: [(String, String)] = [], seconds: Double) {
            update(name, help: help, kind: .histogram) { family in
                // In place: taking the histogram out and putting it back copied its buckets every time.
                family.histograms[Labels(labels), default: Histogram()].record(seconds)
            }
        }

        /// One lookup of the family, updated in place (no copy of its series).
        private mutating func update(_ name: String, help: String, kind: Kind, _ body: (inout Family) -> Void) {
            if let index = families.index(forKey: name) {
                body(&families.values[index])
                return
            }
            var family = Family(help: help, kind: kind)
            body(&family)
            families[name] = family
            added.append(name)
        }
    }

    public func increment(_ name: String, help: String, labels: [(String, String)] = [], by amount: Int64 = 1) {
        batch { $0.increment(name, help: help, labels: labels, by: amount) }
    }

    public func set(_ name: String, help: String, labels: [(String, String)] = [], to value: Int64) {
        batch { $0.set(name, help: help, labels: labels, to: value) }
    }

    public func observe(_ name: String, help: String, labels: [(String, String)] = [], seconds: Double) {
        batch { $0.observe(name, help: help, labels: labels, seconds: seconds) }
    }

    /// The current values in Prometheus' text exposition format (version 0.0.4).
    public func render() -> String {
        let names = order.withLock { $0 }
        let snapshot = families.withLock { $0 }
        var output = ""
        for name in names {
            guard let family = snapshot[name] else { continue }
            output += "# HELP \(name) \(family.help)\n# TYPE \(name) \(family.kind.rawValue)\n"
            switch family.kind {
            case .counter:
                for (labels, value) in family.counters.sorted(by: { $0.key.rendered() < $1.key.rendered() }) {
                    output += "\(name)\(labels.rendered()) \(value)\n"
                }
            case .gauge:
                for (labels, value) in family.gauges.sorted(by: { $0.key.rendered() < $1.key.rendered() }) {
                    output += "\(name)\(labels.rendered()) \(value)\n"
                }
            case .histogram:
                for (labels, histogram) in family.histograms.sorted(by: { $0.key.rendered() < $1.key.rendered() }) {
                    for (index, bound) in Self.latencyBuckets.enumerated() {
                        output += "\(name)_bucket\(labels.rendered(extra: ("le", "\(bound)"))) \(histogram.bucketCounts[index])\n"
                    }
                    output += "\(name)_bucket\(labels.rendered(extra: ("le", "+Inf"))) \(histogram.count)\n"
                    output += "\(name)_sum\(labels.rendered()) \(histogram.sum)\n"
                    output += "\(name)_count\(labels.rendered()) \(histogram.count)\n"
                }
            }
        }
        return output
    }
}
