import Logging
import SwitchyardConfig
import SwitchyardCore
import Telemetry

extension Traces {
    /// Tracing as configured by `observability.tracing` and the standard `OTEL_*` variables
    /// (which win); nil when it is off.
    static func configured(
        _ tracing: SwitchyardConfiguration.Tracing?, replica: String, environment: [String: String], logger: Logger
    ) throws -> Traces? {
        let file = tracing.map {
            TraceExportSettings.FileSettings(endpoint: $0.endpoint, serviceName: $0.serviceName, sampleRatio: $0.sampleRatio)
        }
        guard let settings = try TraceExportSettings.resolve(file: file, instanceID: replica, environment: environment)
        else { return nil }
        for warning in settings.warnings { logger.warning("\(warning)") }
        return Traces(settings: settings, logger: logger)
    }
}

extension MetricsExportSettings {
    /// The metrics push `observability.otlp_metrics` and the standard `OTEL_*` variables ask for
    /// (the variables win); nil when none is.
    static func configured(
        _ observability: SwitchyardConfiguration.Observability, replica: String, environment: [String: String],
        logger: Logger
    ) throws -> MetricsExportSettings? {
        let file = observability.otlpMetrics.map { metrics in
            MetricsExportSettings.FileSettings(
                endpoint: metrics.endpoint,
                intervalMilliseconds: metrics.interval.map { Int($0.milliseconds) })
        }
        guard
            let settings = try MetricsExportSettings.resolve(
                file: file, serviceName: observability.tracing?.serviceName, instanceID: replica, environment: environment)
        else { return nil }
        for warning in settings.warnings { logger.warning("\(warning)") }
        return settings
    }
}
