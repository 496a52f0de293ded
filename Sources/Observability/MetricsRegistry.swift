import CoreMetrics
import Prometheus
import Synchronization

/// The gateway's metrics in the ecosystem's backends: swift-prometheus' registry renders
/// `/metrics`, and when metrics are pushed, swift-otel's backend (`push`) gets every series too,
/// so the same counters reach a collector over OTLP. The data plane and any library record
/// through the swift-metrics API (`RegistryMetricsFactory`); handles are resolved once per label
/// set, and an update then goes straight to the backends' series.
///
/// swift-prometheus stops the process when a name is used twice in ways it cannot show (another
/// kind, help text or buckets; labels on one series and none on another). A library recording
/// through swift-metrics must not be able to do that: each family's first shape is kept here, a
/// later use of the name gets that shape's help and buckets, and a use of another kind or label
/// shape records nothing (`conflicts` counts them).
///
/// Values that other parts keep themselves (queues, connections, the ledger's counts) are copied
/// in with `set` when a scrape or a push collects them.
public final class MetricsRegistry: Sendable {
    public static let latencyBuckets: [Double] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120]

    public enum Kind: String, Sendable { case counter, gauge, histogram }

    /// What `/metrics` renders.
    public let prometheus = PrometheusCollectorRegistry()
    /// swift-otel's metrics backend, when metrics are pushed over OTLP (nil: they are not).
    let push: (any MetricsFactory)?
    private let shapes = Mutex<[String: Shape]>([:])
    private let copied = Mutex<[CopiedKey: CopiedSeries]>([:])
    private let conflictCount = Atomic<Int>(0)

    public init(push: (any MetricsFactory)? = nil) { self.push = push }

    /// Series asked for under a name already used as another kind or label shape (recording nothing).
    public var conflicts: Int { conflictCount.load(ordering: .relaxed) }

    /// One family as both outputs name it.
    public struct Family: Sendable {
        /// Its name in the push (the OpenTelemetry name) and the label it is recorded under.
        public var label: String
        public var prometheusName: String
        public var help: String
        public var unit: String?
        public var buckets: [Double]

        public init(
            label: String, prometheusName: String? = nil, help: String, unit: String? = nil,
            buckets: [Double] = MetricsRegistry.latencyBuckets
        ) {
            self.label = label
            self.prometheusName = prometheusName ?? MetricFamilyCatalog.prometheusName(label)
            self.help = help
            self.unit = unit
            self.buckets = buckets
        }

        /// swift-otel reads a family's unit and description from these two dimensions.
        func pushDimensions(_ labels: [(String, String)]) -> [(String, String)] {
            var dimensions = labels
            if let unit { dimensions.append(("unit", unit)) }
            if !help.isEmpty { dimensions.append(("description", help)) }
            return dimensions
        }
    }

    private struct Shape {
        var kind: Kind
        var labeled: Bool
        var descriptor: MetricNameDescriptor
        var buckets: [Double]
    }

    // MARK: Handles, for the swift-metrics backend

    // A use refused by `admit` records nothing in either backend.

    func counter(_ family: Family, labels: [(String, String)]) -> any CounterHandler {
        guard let shape = admit(family, .counter, labels) else { return NOOPMetricsHandler.instance }
        let local = prometheus.makeCounter(descriptor: shape.descriptor, labels: Self.prometheusLabels(labels))
        return CounterSeries(local, pushed: push?.makeCounter(label: family.label, dimensions: family.pushDimensions(labels)))
    }

    func gauge(_ family: Family, labels: [(String, String)]) -> any MeterHandler & RecorderHandler {
        guard let shape = admit(family, .gauge, labels) else { return NOOPMetricsHandler.instance }
        let local = prometheus.makeGauge(descriptor: shape.descriptor, labels: Self.prometheusLabels(labels))
        guard let push else { return local }
        return FannedGauge(local, push.makeMeter(label: family.label, dimensions: family.pushDimensions(labels)))
    }

    func histogram(_ family: Family, labels: [(String, String)]) -> any RecorderHandler {
        guard let shape = admit(family, .histogram, labels) else { return NOOPMetricsHandler.instance }
        let local = localHistogram(shape, labels: labels)
        guard let push else { return local }
        let pushed = push.makeRecorder(label: family.label, dimensions: family.pushDimensions(labels), aggregate: true)
        return FannedRecorder(local, pushed)
    }

    /// A histogram of durations: seconds in the exposition, a duration histogram in the push.
    func timer(_ family: Family, labels: [(String, String)]) -> any TimerHandler {
        guard let shape = admit(family, .histogram, labels) else { return NOOPMetricsHandler.instance }
        let local = SecondsHistogram(localHistogram(shape, labels: labels))
        guard let push else { return local }
        return FannedTimer(local, push.makeTimer(label: family.label, dimensions: family.pushDimensions(labels)))
    }

    private func localHistogram(_ shape: Shape, labels: [(String, String)]) -> any RecorderHandler {
        prometheus.makeValueHistogram(descriptor: shape.descriptor, labels: Self.prometheusLabels(labels), buckets: shape.buckets)
    }

    /// The family's first shape when this use fits it (recording it if it is the first).
    private func admit(_ family: Family, _ kind: Kind, _ labels: [(String, String)]) -> Shape? {
        let shape = shapes.withLock { shapes -> Shape? in
            guard let shape = shapes[family.prometheusName] else {
                let first = Shape(
                    kind: kind, labeled: !labels.isEmpty,
                    descriptor: MetricNameDescriptor(metricName: family.prometheusName, unitName: "", helpText: family.help),
                    buckets: family.buckets)
                shapes[family.prometheusName] = first
                return first
            }
            return shape.kind == kind && shape.labeled == !labels.isEmpty ? shape : nil
        }
        if shape == nil { conflictCount.add(1, ordering: .relaxed) }
        return shape
    }

    /// Valid label names, each once (the first value wins): a repeated name, or two that become
    /// one (`a.b`, `a_b`), would make the exposition unreadable.
    static func prometheusLabels(_ labels: [(String, String)]) -> [(String, String)] {
        var seen = Set<String>()
        return labels.compactMap { name, value in
            let valid = MetricFamilyCatalog.prometheusLabelName(name)
            return seen.insert(valid).inserted ? (valid, value) : nil
        }
    }

    // MARK: Values kept elsewhere, copied in when collected

    private struct CopiedKey: Hashable {
        var name: String
        var labels: [String]
    }

    private enum CopiedSeries {
        case gauge(any MeterHandler)
        /// A counter and the total it was last brought up to: the backends' counters only add.
        case counter(any CounterHandler, total: Int64)
    }

    /// A gauge's value, or a counter's kept elsewhere (its total since start) and copied in when
    /// collected. A total below the last one copied is ignored: the backends' counters only add.
    public func set(_ name: String, help: String, kind: Kind = .gauge, labels: [(String, String)] = [], to value: Int64) {
        let key = CopiedKey(name: name, labels: labels.flatMap { [$0.0, $0.1] })
        copied.withLock { copied in
            let family = Family(label: name, help: help)
            switch copied[key] ?? newCopied(family, kind: kind, labels: labels) {
            case .gauge(let gauge):
                gauge.set(value)
                copied[key] = .gauge(gauge)
            case .counter(let counter, let total):
                if value > total { counter.increment(by: value - total) }
                copied[key] = .counter(counter, total: max(value, total))
            }
        }
    }

    private func newCopied(_ family: Family, kind: Kind, labels: [(String, String)]) -> CopiedSeries {
        kind == .counter ? .counter(counter(family, labels: labels), total: 0) : .gauge(gauge(family, labels: labels))
    }

    /// The current values in Prometheus' text exposition format (version 0.0.4).
    public func render() -> String { prometheus.emitToString() }
}

/// A swift-metrics timer over a histogram of seconds (swift-prometheus' timers count in
/// `Duration`s, whose bounds the exposition would spell differently from every other histogram).
final class SecondsHistogram: TimerHandler, Sendable {
    private let histogram: any RecorderHandler

    init(_ histogram: any RecorderHandler) { self.histogram = histogram }

    func recordNanoseconds(_ duration: Int64) { histogram.record(Double(duration) / 1e9) }
}
