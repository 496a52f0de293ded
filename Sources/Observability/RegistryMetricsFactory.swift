import CoreMetrics

/// The swift-metrics backend that records into a `MetricsRegistry`: the data plane's counters and
/// histograms go through the ecosystem's API, and so do those of any library that uses it once
/// `switchyard serve` bootstraps `MetricsSystem` with this factory.
///
/// swift-metrics has no help text or bucket bounds; `MetricFamilyCatalog` gives both by name. A
/// name the catalog does not know (a library's) gets the default latency buckets, and is made a
/// valid Prometheus name (`nio.connections` becomes `nio_connections`). Timers record seconds.
/// Gauges are `Recorder`s that do not aggregate, or `Meter`s. Floating-point counters are
/// swift-metrics' own, which carry fractions over into the integer counter. A destroyed handle's
/// series stays in the registry: its value is still what happened.
public struct RegistryMetricsFactory: MetricsFactory {
    public let registry: MetricsRegistry
    public let catalog: MetricFamilyCatalog

    public init(registry: MetricsRegistry, catalog: MetricFamilyCatalog = MetricFamilyCatalog()) {
        self.registry = registry
        self.catalog = catalog
    }

    public func makeCounter(label: String, dimensions: [(String, String)]) -> CounterHandler {
        RegistrySeriesHandler(series(label, .counter, dimensions))
    }

    public func makeMeter(label: String, dimensions: [(String, String)]) -> MeterHandler {
        RegistrySeriesHandler(series(label, .gauge, dimensions))
    }

    public func makeRecorder(label: String, dimensions: [(String, String)], aggregate: Bool) -> RecorderHandler {
        RegistrySeriesHandler(series(label, aggregate ? .histogram : .gauge, dimensions))
    }

    public func makeTimer(label: String, dimensions: [(String, String)]) -> TimerHandler {
        RegistrySeriesHandler(series(label, .histogram, dimensions))
    }

    public func destroyCounter(_ handler: CounterHandler) {}
    public func destroyMeter(_ handler: MeterHandler) {}
    public func destroyRecorder(_ handler: RecorderHandler) {}
    public func destroyTimer(_ handler: TimerHandler) {}

    private func series(_ label: String, _ kind: MetricsRegistry.Kind, _ dimensions: [(String, String)]) -> MetricsRegistry.Series
    {
        let name = MetricFamilyCatalog.prometheusName(label)
        let family = catalog.family(name)
        return registry.series(
            name, help: family?.help ?? name, kind: kind,
            labels: dimensions.map { (MetricFamilyCatalog.prometheusLabelName($0.0), $0.1) },
            buckets: family?.buckets ?? MetricsRegistry.latencyBuckets)
    }
}

/// A handle of every kind over one series: what a call means is the series' kind (an update of
/// another kind is dropped by the series).
final class RegistrySeriesHandler: CounterHandler, MeterHandler, RecorderHandler, TimerHandler, Sendable {
    let series: MetricsRegistry.Series

    init(_ series: MetricsRegistry.Series) { self.series = series }

    // Counter.
    func increment(by amount: Int64) { series.add(amount) }
    func reset() { series.set(Int64(0)) }
    // Meter (a gauge).
    func set(_ value: Int64) { series.set(value) }
    func set(_ value: Double) { series.set(value) }
    func increment(by amount: Double) { series.adjust(by: amount) }
    func decrement(by amount: Double) { series.adjust(by: -amount) }
    // Recorder: a histogram's observation, or a gauge's value.
    func record(_ value: Int64) { series.record(Double(value)) }
    func record(_ value: Double) { series.record(value) }
    // Timer, in seconds.
    func recordNanoseconds(_ duration: Int64) { series.record(Double(duration) / 1e9) }
}
