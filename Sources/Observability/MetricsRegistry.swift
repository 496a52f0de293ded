import Synchronization

/// Counters, gauges and histograms kept in process, read as a snapshot for Prometheus' text
/// format (`/metrics`) and for the OTLP push.
///
/// The data plane records through the swift-metrics API (`RegistryMetricsFactory` is the
/// backend); values that other parts keep themselves (queues, connections, the ledger's counts)
/// are copied in with `set` when a scrape or a push collects them. A series (one label set of one
/// family) is found once by name and labels and then updated through its `Series`: a counter is
/// one atomic add, a histogram takes its own lock, and no update takes a lock shared by every
/// event loop.
public final class MetricsRegistry: Sendable {
    public static let latencyBuckets: [Double] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120]

    private let state = Mutex(State())

    public init() {}

    public enum Kind: String, Sendable { case counter, gauge, histogram }

    /// One label set of one family, resolved by `series(_:help:kind:labels:buckets:)`. Updates of
    /// the wrong kind (a name first used as another kind) are dropped.
    public struct Series: Sendable, Hashable {
        fileprivate let cell: Cell

        public func add(_ amount: Int64 = 1) {
            switch cell {
            case .counter(let counter): counter.value.add(amount, ordering: .relaxed)
            case .gauge(let gauge): gauge.value.withLock { $0 += Double(amount) }
            case .histogram: break
            }
        }

        /// A gauge's value; a counter's too, for counts kept elsewhere and copied in when collected.
        public func set(_ value: Double) {
            switch cell {
            case .counter(let counter):
                // Clamped, not zeroed: a value past Int64 must not read as a reset.
                let whole = value.isNaN ? 0 : value >= 0x1p63 ? .max : value <= -0x1p63 ? .min : Int64(value.rounded())
                counter.value.store(whole, ordering: .relaxed)
            case .gauge(let gauge): gauge.value.withLock { $0 = value }
            case .histogram: break
            }
        }

        public func set(_ value: Int64) {
            switch cell {
            case .counter(let counter): counter.value.store(value, ordering: .relaxed)
            case .gauge(let gauge): gauge.value.withLock { $0 = Double(value) }
            case .histogram: break
            }
        }

        /// A gauge moved up or down (by a fraction too; a counter takes only whole counts: `add`).
        public func adjust(by amount: Double) {
            guard case .gauge(let gauge) = cell else { return }
            gauge.value.withLock { $0 += amount }
        }

        /// What swift-metrics' `Recorder` and `Timer` mean: an observation of a histogram, a gauge's value.
        public func record(_ value: Double) {
            switch cell {
            case .histogram(let histogram): histogram.state.withLock { $0.record(value) }
            case .gauge(let gauge): gauge.value.withLock { $0 = value }
            case .counter: break
            }
        }
    }

    fileprivate enum Cell: Sendable, Hashable {
        case counter(CounterCell)
        case gauge(GaugeCell)
        case histogram(HistogramCell)

        static func == (lhs: Cell, rhs: Cell) -> Bool { lhs.identity == rhs.identity }
        func hash(into hasher: inout Hasher) { hasher.combine(identity) }

        private var identity: ObjectIdentifier {
            switch self {
            case .counter(let cell): ObjectIdentifier(cell)
            case .gauge(let cell): ObjectIdentifier(cell)
            case .histogram(let cell): ObjectIdentifier(cell)
            }
        }
    }

    fileprivate final class CounterCell: Sendable { let value = Atomic<Int64>(0) }
    fileprivate final class GaugeCell: Sendable { let value = Mutex<Double>(0) }
    fileprivate final class HistogramCell: Sendable {
        let state: Mutex<Histogram>
        init(bounds: [Double]) { state = Mutex(Histogram(bounds: bounds)) }
    }

    struct State {
        var families: [String: Family] = [:]
        /// Family names in the order they were first seen, for rendering.
        var order: [String] = []

        mutating func series(
            _ name: String, help: String, kind: Kind, labels: Labels, buckets: [Double]
        ) -> Series {
            if let family = families.index(forKey: name) {
                // The family's kind and buckets, whatever was asked: a family's series share both.
                if let cell = families.values[family].series[labels] { return Series(cell: cell) }
                let cell = Self.newCell(families.values[family].kind, buckets: families.values[family].buckets)
                families.values[family].series[labels] = cell
                return Series(cell: cell)
            }
            let cell = Self.newCell(kind, buckets: buckets)
            families[name] = Family(help: help, kind: kind, buckets: buckets, series: [labels: cell])
            order.append(name)
            return Series(cell: cell)
        }

        private static func newCell(_ kind: Kind, buckets: [Double]) -> Cell {
            switch kind {
            case .counter: .counter(CounterCell())
            case .gauge: .gauge(GaugeCell())
            case .histogram: .histogram(HistogramCell(bounds: buckets))
            }
        }
    }

    struct Family {
        var help: String
        var kind: Kind
        var buckets: [Double]
        fileprivate var series: [Labels: Cell]
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

        mutating func record(_ value: Double) {
            for (index, bound) in bounds.enumerated() where value <= bound {
                bucketCounts[index] += 1
            }
            sum += value
            count += 1
        }
    }

    /// The series of `name` with `labels`, created (at zero) if new. Keep it: updating through it
    /// costs no lookup. A name keeps the kind, help and buckets it was first given.
    /// `buckets`: a histogram family's upper bounds, when it is created (the latency buckets by default).
    public func series(
        _ name: String, help: String, kind: Kind, labels: [(String, String)] = [],
        buckets: [Double] = MetricsRegistry.latencyBuckets
    ) -> Series {
        state.withLock { $0.series(name, help: help, kind: kind, labels: Labels(labels), buckets: buckets) }
    }

    /// A gauge's value, or a counter's kept elsewhere and copied in when collected (the kind is
    /// the family's first).
    public func set(_ name: String, help: String, kind: Kind = .gauge, labels: [(String, String)] = [], to value: Int64) {
        series(name, help: help, kind: kind, labels: labels).set(value)
    }

    /// One family's current values, for an exporter other than the Prometheus text (OTLP push).
    public struct FamilySnapshot: Sendable {
        public var name: String
        public var help: String
        public var kind: Kind
        public var series: [SeriesSnapshot]
    }

    /// One series: its labels and its value.
    public struct SeriesSnapshot: Sendable {
        public var labels: [(String, String)]
        public var value: Value
    }

    public enum Value: Sendable {
        case count(Int64)
        case gauge(Double)
        case histogram(HistogramSnapshot)
    }

    public struct HistogramSnapshot: Sendable {
        /// Upper bounds, and per bound the observations at or below it (cumulative, as Prometheus counts).
        public var bounds: [Double]
        public var cumulativeCounts: [Int64]
        public var sum: Double
        public var count: Int64
    }

    /// Every family's values, in the order first seen. Each series is read on its own (a counter
    /// may move between two series' reads); the families are copied under the registry's lock.
    public func snapshot() -> [FamilySnapshot] {
        let state = state.withLock { $0 }
        return state.order.compactMap { name in
            guard let family = state.families[name] else { return nil }
            let series = family.series.sorted { $0.key.rendered() < $1.key.rendered() }.map { labels, cell in
                SeriesSnapshot(labels: labels.pairs, value: Self.value(of: cell))
            }
            return FamilySnapshot(name: name, help: family.help, kind: family.kind, series: series)
        }
    }

    private static func value(of cell: Cell) -> Value {
        switch cell {
        case .counter(let counter): .count(counter.value.load(ordering: .relaxed))
        case .gauge(let gauge): .gauge(gauge.value.withLock { $0 })
        case .histogram(let histogram):
            .histogram(
                histogram.state.withLock {
                    HistogramSnapshot(bounds: $0.bounds, cumulativeCounts: $0.bucketCounts, sum: $0.sum, count: $0.count)
                })
        }
    }

    /// The current values in Prometheus' text exposition format (version 0.0.4).
    public func render() -> String {
        var output = ""
        for family in snapshot() {
            output += "# HELP \(family.name) \(family.help)\n# TYPE \(family.name) \(family.kind.rawValue)\n"
            for series in family.series {
                let labels = Labels(series.labels)
                switch series.value {
                case .count(let value):
                    output += "\(family.name)\(labels.rendered()) \(value)\n"
                case .gauge(let value):
                    output += "\(family.name)\(labels.rendered()) \(Self.sample(value))\n"
                case .histogram(let histogram):
                    for (bucket, bound) in histogram.bounds.enumerated() {
                        output +=
                            "\(family.name)_bucket\(labels.rendered(extra: ("le", "\(bound)"))) \(histogram.cumulativeCounts[bucket])\n"
                    }
                    output += "\(family.name)_bucket\(labels.rendered(extra: ("le", "+Inf"))) \(histogram.count)\n"
                    output += "\(family.name)_sum\(labels.rendered()) \(Self.sample(histogram.sum))\n"
                    output += "\(family.name)_count\(labels.rendered()) \(histogram.count)\n"
                }
            }
        }
        return output
    }

    /// A sample value as the exposition format spells it: whole numbers without a fraction (as
    /// the integer gauges always read), `NaN` and `±Inf` in its words.
    static func sample(_ value: Double) -> String {
        if value.isNaN { return "NaN" }
        if value.isInfinite { return value > 0 ? "+Inf" : "-Inf" }
        if let whole = Int64(exactly: value), whole.magnitude < 1 << 53 { return String(whole) }
        return "\(value)"
    }
}
