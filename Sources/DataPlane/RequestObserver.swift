import CoreMetrics
import Incidents
import Logging
import Observability
import SwitchyardConfig
import SwitchyardCore

/// The settle stage's view of a finished request: its metrics recorded (through swift-metrics), and its one log
/// line written (from memory: `BufferedLogHandler` writes it off the event loop).
struct RequestObserver: Sendable {
    /// Where the request's metrics are recorded (the swift-metrics backend). Its concrete type,
    /// not `any MetricsFactory`: an existential field made this struct one that is copied through
    /// value witnesses, at every request (a profile showed it).
    let metrics: RegistryMetricsFactory
    /// The series a finished request updates, by label values.
    let requestSeries: RequestSeriesCache
    let configuration: SwitchyardConfiguration
    let logger: Logger
    /// The window's traffic incidents are found in (nil: `incidents.enabled: false`).
    let traffic: TrafficRecorder?

    /// Records the request's metrics and writes the request's one log line (with its trace and
    /// span ids when it has them: a log line leads to its trace).
    func observe(_ record: UsageRecord, latency: Duration, timeToFirstToken: Duration?, spanID: String? = nil) {
        let route = record.route ?? ""
        let deployment = record.deployment ?? ""
        // Counts the gateway estimated are not the provider's: the GenAI token metrics take only
        // reported ones, as the conventions ask.
        let reported = !record.usage.isEstimated
        let pacedOutput = timeToFirstToken != nil && record.errorClass == nil && reported && record.usage.outputTokens > 1
        let series = requestSeries.series(
            for: record, timedFirstToken: timeToFirstToken != nil, pacedOutput: pacedOutput)
        series.requests.increment()
        traffic?.record(record)
        series.duration.recordNanoseconds(latency.nanoseconds)
        if let timeToFirstToken, let ttft = series.timeToFirstToken { ttft.recordNanoseconds(timeToFirstToken.nanoseconds) }
        series.inputTokens?.increment(by: record.usage.inputTokens)
        series.outputTokens?.increment(by: record.usage.outputTokens)
        series.cachedInputTokens?.increment(by: record.usage.cachedInputTokens)
        series.cost?.increment(by: record.cost.nanos)
        if let genAI = series.genAI {
            genAI.operationDuration.recordNanoseconds(latency.nanoseconds)
            if reported {
                genAI.inputTokens?.record(record.usage.inputTokens)
                genAI.outputTokens?.record(record.usage.outputTokens)
            }
            if let timeToFirstToken {
                genAI.timeToFirstToken?.recordNanoseconds(timeToFirstToken.nanoseconds)
                if let pace = genAI.timePerOutputToken {
                    pace.recordNanoseconds((latency - timeToFirstToken).nanoseconds / Int64(record.usage.outputTokens - 1))
                }
            }
        }
        // Per attempt, so failures hidden from the client by a failover still show.
        for attempt in record.attempts {
            guard let errorClass = attempt.errorClass, errorClass != .clientCancelled, errorClass != .hedgeLost else {
                continue
            }
            let attemptProvider = configuration.deployment(named: attempt.deployment)?.provider ?? ""
            Counter(
                label: MetricFamilies.upstreamErrors,
                dimensions: [
                    ("provider", attemptProvider), ("deployment", attempt.deployment), ("error_class", errorClass.rawValue),
                ], factory: metrics
            ).increment()
        }
        // Built only when the line is written (an autoclosure): at `warning` a request pays nothing for it.
        logger.info(
            "request", metadata: Self.logFields(record, route: route, deployment: deployment, latency: latency, spanID: spanID))
    }

    /// The request line's fields: who, where, outcome, usage, cost, and its trace.
    static func logFields(
        _ record: UsageRecord, route: String, deployment: String, latency: Duration, spanID: String?
    ) -> Logger.Metadata {
        var fields: Logger.Metadata = [
            "request_id": .string(record.id), "endpoint": .string(record.endpoint),
            "tenant": .string(record.tenant ?? "-"), "agent": .string(record.agent ?? "-"), "route": .string(route),
            "deployment": .string(deployment), "status": .stringConvertible(record.status),
            "error_class": .string(record.errorClass?.rawValue ?? "-"),
            "latency_ms": .string(millisecondsToOneDecimal(latency)),
            "input_tokens": .stringConvertible(record.usage.inputTokens),
            "output_tokens": .stringConvertible(record.usage.outputTokens),
            "usage_estimated": .stringConvertible(record.usage.isEstimated),
            "cost": .string(record.cost.decimalString + " " + record.cost.currency),
        ]
        if let traceID = record.traceID { fields["trace_id"] = .string(traceID) }
        if let spanID { fields["span_id"] = .string(spanID) }
        return fields
    }

    /// `12.3` for 12.34 ms: what `String(format: "%.1f")` writes, without Foundation's formatter
    /// on every request.
    static func millisecondsToOneDecimal(_ duration: Duration) -> String {
        let (seconds, attoseconds) = duration.components
        let tenths = seconds * 10_000 + (attoseconds + 50_000_000_000_000) / 100_000_000_000_000
        return "\(tenths / 10).\(tenths % 10)"
    }

}
