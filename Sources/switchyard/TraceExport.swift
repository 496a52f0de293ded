import Logging
import SwitchyardConfig
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
