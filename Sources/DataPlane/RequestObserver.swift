import Logging
import Observability
import SwitchyardConfig
import SwitchyardCore

/// The settle stage's view of a finished request: its Prometheus series updated, and its one log
/// line written (from memory: `BufferedLogHandler` writes it off the event loop).
struct RequestObserver: Sendable {
    let metrics: MetricsRegistry
    /// The series a finished request updates, by label values.
    let requestSeries: RequestSeriesCache
    let configuration: SwitchyardConfiguration
    let logger: Logger

    /// Updates the Prometheus metrics and writes the request's one log line (with its trace and
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
        // One lock for the request's updates, not one each.
        metrics.batch { m in
            m.add(series.requests)
            m.observe(series.duration, seconds: latency.seconds)
            if let timeToFirstToken, let ttft = series.timeToFirstToken { m.observe(ttft, seconds: timeToFirstToken.seconds) }
            if let input = series.inputTokens { m.add(input, Int64(record.usage.inputTokens)) }
            if let output = series.outputTokens { m.add(output, Int64(record.usage.outputTokens)) }
            if let cached = series.cachedInputTokens { m.add(cached, Int64(record.usage.cachedInputTokens)) }
            if let cost = series.cost { m.add(cost, record.cost.nanos) }
            if let genAI = series.genAI {
                m.observe(genAI.operationDuration, seconds: latency.seconds)
                // Token counts go through the same histogram update (its value is a count here).
                if reported, let input = genAI.inputTokens { m.observe(input, seconds: Double(record.usage.inputTokens)) }
                if reported, let output = genAI.outputTokens {
                    m.observe(output, seconds: Double(record.usage.outputTokens))
                }
                if let timeToFirstToken {
                    if let first = genAI.timeToFirstToken { m.observe(first, seconds: timeToFirstToken.seconds) }
                    if let pace = genAI.timePerOutputToken {
                        let perToken = (latency - timeToFirstToken).seconds / Double(record.usage.outputTokens - 1)
                        m.observe(pace, seconds: perToken)
                    }
                }
            }
            // Per attempt, so failures hidden from the client by a failover still show.
            for attempt in record.attempts {
                guard let errorClass = attempt.errorClass, errorClass != .clientCancelled, errorClass != .hedgeLost else {
                    continue
                }
                let attemptProvider = configuration.deployment(named: attempt.deployment)?.provider ?? ""
                m.increment(
                    "switchyard_upstream_errors_total",
                    help: "Failed upstream attempts, by provider, deployment and error class.",
                    labels: [
                        ("provider", attemptProvider), ("deployment", attempt.deployment), ("error_class", errorClass.rawValue),
                    ])
            }
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
