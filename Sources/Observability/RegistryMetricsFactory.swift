import CoreMetrics

/// The swift-metrics backend the gateway bootstraps: each handle is a series of swift-prometheus'
/// registry (`/metrics`) and, when metrics are pushed, of swift-otel's too (`MetricsRegistry`).
/// The data plane records through it, and so does any library that uses swift-metrics.
///
/// swift-metrics has no help text, unit or bucket bounds; `MetricFamilyCatalog` gives them by
/// label. A label the catalog does not know (a library's) gets the default latency buckets and a
/// valid Prometheus name (`nio.connections` becomes `nio_connections`), and keeps its label in the
/// push. Timers record seconds. Gauges are `Recorder`s that do not aggregate, or `Meter`s.
/// Floating-point counters are swift-metrics' own, which carry fractions over into the integer
/// counter. A destroyed handle's series stays: its value is still what happened.
public struct RegistryMetricsFactory: MetricsFactory {
    public let registry: MetricsRegistry
    public let catalog: MetricFamilyCatalog

    public init(registry: MetricsRegistry, catalog: MetricFamilyCatalog = MetricFamilyCatalog()) {
        self.registry = registry
        self.catalog = catalog
    }

    public func makeCounter(label: String, dimensions: [(String, String)]) -> CounterHandler {
        registry.counter(family(label), labels: dimensions)
    }

    public func makeMeter(label: String, dimensions: [(String, String)]) -> MeterHandler {
        registry.gauge(family(label), labels: dimensions)
    }

    public func makeRecorder(label: String, dimensions: [(String, String)], aggregate: Bool) -> RecorderHandler {
        aggregate ? registry.histogram(family(label), labels: dimensions) : registry.gauge(family(label), labels: dimensions)
    }

    public func makeTimer(label: String, dimensions: [(String, String)]) -> TimerHandler {
        registry.timer(family(label), labels: dimensions)
    }

    public func destroyCounter(_ handler: CounterHandler) {}
    public func destroyMeter(_ handler: MeterHandler) {}
    public func destroyRecorder(_ handler: RecorderHandler) {}
    public func destroyTimer(_ handler: TimerHandler) {}

    private func family(_ label: String) -> MetricsRegistry.Family {
        guard let known = catalog.family(label) else { return MetricsRegistry.Family(label: label, help: "") }
        return MetricsRegistry.Family(
            label: label, prometheusName: known.prometheusName, help: known.help, unit: known.unit,
            buckets: known.buckets ?? MetricsRegistry.latencyBuckets)
    }
}
