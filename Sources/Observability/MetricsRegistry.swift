import Synchronization

/// Counters, gauges and histograms kept in process and rendered in Prometheus' text format.
///
/// Small on purpose: a handful of metric families with low-cardinality labels. A series (one
/// label set of one family) can be resolved once into a `Series` and then updated by index:
/// the request path updates half a dozen series per request, and finding each by its name and
/// labels hashed every label string every time. Updates take one short lock; `/metrics` renders a
/// snapshot.
public final class MetricsRegistry: Sendable {
    public static let latencyBuckets: [Double] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120]

    private let state = Mutex(State())

    public init() {}

    /// One label set of one family, resolved by `series(_:help:kind:labels:)`.
    public struct Series: Sendable, Hashable {
        fileprivate let kind: Kind
        /// Into `State.values` for counters and gauges, `State.histograms` for histograms.
        fileprivate let index: Int
    }

    public enum Kind: String, Sendable { case counter, gauge, histogram }

    struct State {
        var families: [String: Family] = [:]
        /// Family names in the order they were first seen, for rendering.
        var order: [String] = []
        var values: [Int64] = []
        var histograms: [Histogram] = []

        mutating func series(
            _ name: String, help: String, kind: Kind, labels: Labels, buckets: [Double] = MetricsRegistry.latencyBuckets
        ) -> Series {
            if let family = families.index(forKey: name) {
                // The family's kind and buckets, whatever was asked: a series never indexes the
                // other storage, and a family's series share their bounds.
                let kind = families.values[family].kind
                if let index = families.values[family].series[labels] { return Series(kind: kind, index: index) }
                let index = newSeries(kind, buckets: families.values[family].buckets)
                families.values[family].series[labels] = index
                return Series(kind: kind, index: index)
            }
            let index = newSeries(kind, buckets: buckets)
            families[name] = Family(help: help, kind: kind, buckets: buckets, series: [labels: index])
            order.append(name)
            return Series(kind: kind, index: index)
        }

        private mutating func newSeries(_ kind: Kind, buckets: [Double]) -> Int {
            switch kind {
            case .counter, .gauge:
                values.append(0)
                return values.count - 1
            case .histogram:
                histograms.append(Histogram(bounds: buckets))
                return histograms.count - 1
            }
        }
    }

    struct Family {
        var help: String
        var kind: Kind
        var buckets: [Double]
        var series: [Labels: Int]
    }

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
        /// Upper bounds of the buckets (the family's; one shared array).
        let bounds: [Double]
        var bucketCounts: [Int64]
        var sum: Double = 0
        var count: Int64 = 0

        init(bounds: [Double]) {
            self.bounds = bounds
            self.bucketCounts = [Int64](repeating: 0, count: bounds.count)
        }

        mutating func record(_ seconds: Double) {
            for (index, bound) in bounds.enumerated() where seconds <= bound {
                bucketCounts[index] += 1
            }
            sum += seconds
            count += 1
        }
    }

    /// The series of `name` with `labels`, created (at zero) if new. Keep it: updating through it
    /// costs no lookup. A name keeps the kind it was first given.
    /// `buckets`: a histogram family's upper bounds, when it is created (the latency buckets by default).
    public func series(
        _ name: String, help: String, kind: Kind, labels: [(String, String)] = [],
        buckets: [Double] = MetricsRegistry.latencyBuckets
    ) -> Series {
        state.withLock { $0.series(name, help: help, kind: kind, labels: Labels(labels), buckets: buckets) }
    }

    /// Several updates under one lock: a request's half-dozen updates take the lock (shared by
    /// every event loop) once instead of once each.
    public func batch(_ body: (inout Batch) -> Void) {
        state.withLock { state in
            // Swapped in and out, not copied: the storage stays uniquely referenced.
            var batch = Batch()
            swap(&batch.state, &state)
            body(&batch)
            swap(&batch.state, &state)
        }
    }

    /// Updates applied by `batch`, inside its lock.
    public struct Batch {
        fileprivate var state = State()

        // An update of the wrong kind (a name first used as another kind) is dropped.
        public mutating func add(_ series: Series, _ amount: Int64 = 1) {
            guard series.kind != .histogram else { return }
            state.values[series.index] += amount
        }

        public mutating func set(_ series: Series, to value: Int64) {
            guard series.kind != .histogram else { return }
            state.values[series.index] = value
        }

        public mutating func observe(_ series: Series, seconds: Double) {
            guard series.kind == .histogram else { return }
            // In place: taking the histogram out and putting it back copied its buckets every time.
            state.histograms[series.index].record(seconds)
        }

        public mutating func increment(_ name: String, help: String, labels: [(String, String)] = [], by amount: Int64 = 1) {
            add(state.series(name, help: help, kind: .counter, labels: Labels(labels)), amount)
        }

        public mutating func set(_ name: String, help: String, labels: [(String, String)] = [], to value: Int64) {
            set(state.series(name, help: help, kind: .gauge, labels: Labels(labels)), to: value)
        }

        public mutating func observe(_ name: String, help: String, labels: [(String, String)] = [], seconds: Double) {
            observe(state.series(name, help: help, kind: .histogram, labels: Labels(labels)), seconds: seconds)
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

    /// One family's current values, for an exporter other than the Prometheus text (OTLP push).
    public struct FamilySnapshot: Sendable {
        public var name: String
        public var help: String
        public var kind: Kind
        public var series: [SeriesSnapshot]
    }

    /// One series: its labels, and its value (counters, gauges) or its histogram.
    public struct SeriesSnapshot: Sendable {
        public var labels: [(String, String)]
        public var value: Int64
        public var histogram: HistogramSnapshot?
    }

    public struct HistogramSnapshot: Sendable {
        /// Upper bounds, and per bound the observations at or below it (cumulative, as Prometheus counts).
        public var bounds: [Double]
        public var cumulativeCounts: [Int64]
        public var sum: Double
        public var count: Int64
    }

    /// Every family's values at one instant (one copy under the lock), in the order first seen.
    public func snapshot() -> [FamilySnapshot] {
        let state = state.withLock { $0 }
        return state.order.compactMap { name in
            guard let family = state.families[name] else { return nil }
            let series = family.series.sorted { $0.key.rendered() < $1.key.rendered() }.map { labels, index in
                switch family.kind {
                case .counter, .gauge:
                    return SeriesSnapshot(labels: labels.pairs, value: state.values[index], histogram: nil)
                case .histogram:
                    let histogram = state.histograms[index]
                    return SeriesSnapshot(
                        labels: labels.pairs, value: histogram.count,
                        histogram: HistogramSnapshot(
                            bounds: histogram.bounds, cumulativeCounts: histogram.bucketCounts, sum: histogram.sum,
                            count: histogram.count))
                }
            }
            return FamilySnapshot(name: name, help: family.help, kind: family.kind, series: series)
        }
    }

    /// The current values in Prometheus' text exposition format (version 0.0.4).
    public func render() -> String {
        let snapshot = state.withLock { $0 }
        var output = ""
        for name in snapshot.order {
            guard let family = snapshot.families[name] else { continue }
            output += "# HELP \(name) \(family.help)\n# TYPE \(name) \(family.kind.rawValue)\n"
            for (labels, index) in family.series.sorted(by: { $0.key.rendered() < $1.key.rendered() }) {
                switch family.kind {
                case .counter, .gauge:
                    output += "\(name)\(labels.rendered()) \(snapshot.values[index])\n"
                case .histogram:
                    let histogram = snapshot.histograms[index]
                    for (bucket, bound) in histogram.bounds.enumerated() {
                        output +=
                            "\(name)_bucket\(labels.rendered(extra: ("le", "\(bound)"))) \(histogram.bucketCounts[bucket])\n"
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
