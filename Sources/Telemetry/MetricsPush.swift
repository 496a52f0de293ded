import CoreMetrics
import Foundation
import Logging
import OTel
import Observability
import ServiceLifecycle

/// The metrics push: swift-otel's metrics backend (its registry, periodic reader and OTLP/HTTP
/// exporter), which `MetricsRegistry` feeds beside swift-prometheus' registry, so every series on
/// `/metrics` also reaches the collector, cumulative since start, under its OpenTelemetry name,
/// unit and bucket bounds.
///
/// `service` runs the backend and a refresher of the values other parts keep (queues,
/// connections, the ledger's counts), which swift-otel's reader cannot ask for: they are copied
/// in every `refreshInterval` (at most 5 s, or the push interval if shorter) and once more at
/// shutdown, before the backend's last push.
public struct MetricsPush: Sendable {
    /// swift-otel's swift-metrics backend, for `MetricsRegistry(push:)`.
    public let factory: any MetricsFactory
    private let backend: any Service
    private let refreshInterval: Duration
    private let logger: Logger

    /// nil when the settings cannot be pushed (their warning says why), or swift-otel refuses
    /// them (with a warning).
    public static func make(settings: MetricsExportSettings, catalog: MetricFamilyCatalog, logger: Logger) -> MetricsPush? {
        guard settings.pushable else { return nil }
        // swift-otel reads the OTEL_* variables again, raw: headers not percent-decoded nor
        // checked, intervals and timeouts unbounded. They were read once, into `settings`;
        // swift-otel gets that, and the process keeps no variable for it to read over it.
        for name in ProcessInfo.processInfo.environment.keys where name.hasPrefix("OTEL_") { unsetenv(name) }
        do {
            let backend = try OTel.makeMetricsBackend(configuration: configuration(settings, catalog: catalog, logger: logger))
            return MetricsPush(
                factory: backend.factory, backend: backend.service,
                refreshInterval: min(.seconds(5), .milliseconds(settings.intervalMilliseconds)), logger: logger)
        } catch {
            logger.warning("metrics are not pushed: \(error)")
            return nil
        }
    }

    /// The backend and the refresher of what `collect` copies in. Shutdown runs in reverse: the
    /// refresher's last copy, then the backend's last push.
    public func service(collecting collect: @escaping @Sendable () -> Void) -> some Service {
        ServiceGroup(
            configuration: .init(
                services: [backend, CollectedMetricsRefresher(interval: refreshInterval, collect: collect)], logger: logger))
    }

    /// Our settings as swift-otel's configuration (the standard variables already applied, by
    /// `MetricsExportSettings`).
    static func configuration(
        _ settings: MetricsExportSettings, catalog: MetricFamilyCatalog, logger: Logger
    ) -> OTel.Configuration {
        var configuration = OTel.Configuration.default
        configuration.diagnosticLogger = .custom(
            Logger(label: "swift-otel", factory: { _ in OTelDiagnosticLogHandler(destination: logger) }))
        configuration.traces.enabled = false
        configuration.logs.enabled = false
        for (key, value) in settings.resource {
            if key == "service.name" { configuration.serviceName = value } else { configuration.resourceAttributes[key] = value }
        }
        var metrics = configuration.metrics
        metrics.enabled = true
        metrics.exporter = .otlp
        metrics.exportInterval = .milliseconds(settings.intervalMilliseconds)
        metrics.exportTimeout = .milliseconds(settings.timeoutMilliseconds)
        metrics.otlpExporter.endpoint = settings.endpoint
        metrics.otlpExporter.protocol = .httpProtobuf
        metrics.otlpExporter.headers = settings.headers
        metrics.otlpExporter.timeout = .milliseconds(settings.timeoutMilliseconds)
        // Each histogram's bounds, in both of swift-otel's histogram kinds (timers and recorders).
        for (label, family) in catalog.all {
            guard let buckets = family.buckets else { continue }
            metrics.valueHistogramBuckets[label] = buckets
            metrics.durationHistogramBuckets[label] = buckets.map { Duration.nanoseconds(Int64(($0 * 1e9).rounded())) }
        }
        metrics.defaultValueHistogramBuckets = MetricsRegistry.latencyBuckets
        metrics.defaultDurationHistogramBuckets = MetricsRegistry.latencyBuckets.map {
            Duration.nanoseconds(Int64(($0 * 1e9).rounded()))
        }
        configuration.metrics = metrics
        return configuration
    }
}

/// Copies the values other parts keep into the registry on a period, and once more when it stops.
struct CollectedMetricsRefresher: Service {
    let interval: Duration
    let collect: @Sendable () -> Void

    func run() async throws {
        try? await cancelWhenGracefulShutdown {
            while true {
                collect()
                try await Task.sleep(for: interval)
            }
        }
        collect()
    }
}
