import Hummingbird
import Ledger
import Observability
import SwitchyardCore

extension Gateway {
    /// Updates the Prometheus metrics and writes the request's one log line.
    func observe(_ record: UsageRecord, latency: Duration, timeToFirstToken: Duration?) {
        let route = record.route ?? ""
        let deployment = record.deployment ?? ""
        let series = requestSeries.series(for: record, timedFirstToken: timeToFirstToken != nil)
        // One lock for the request's updates, not one each.
        metrics.batch { m in
            m.add(series.requests)
            m.observe(series.duration, seconds: latency.seconds)
            if let timeToFirstToken, let ttft = series.timeToFirstToken { m.observe(ttft, seconds: timeToFirstToken.seconds) }
            if let input = series.inputTokens { m.add(input, Int64(record.usage.inputTokens)) }
            if let output = series.outputTokens { m.add(output, Int64(record.usage.outputTokens)) }
            if let cached = series.cachedInputTokens { m.add(cached, Int64(record.usage.cachedInputTokens)) }
            if let cost = series.cost { m.add(cost, record.cost.nanos) }
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
        logger.info(
            "request",
            metadata: [
                "request_id": .string(record.id), "endpoint": .string(record.endpoint),
                "tenant": .string(record.tenant ?? "-"), "agent": .string(record.agent ?? "-"), "route": .string(route),
                "deployment": .string(deployment), "status": .stringConvertible(record.status),
                "error_class": .string(record.errorClass?.rawValue ?? "-"),
                "latency_ms": .string(String(format: "%.1f", latency.seconds * 1000)),
                "input_tokens": .stringConvertible(record.usage.inputTokens),
                "output_tokens": .stringConvertible(record.usage.outputTokens),
                "usage_estimated": .stringConvertible(record.usage.isEstimated),
                "cost": .string(record.cost.decimalString + " " + record.cost.currency),
            ])
    }

    func metricsResponse() -> Response {
        if let writer = usageSink as? MetricsSource { writer.exportMetrics(to: metrics) }
        return Response(
            status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
            body: .init(byteBuffer: ByteBuffer(string: metrics.render())))
    }
}

/// Something with gauges to publish when `/metrics` is scraped.
protocol MetricsSource {
    func exportMetrics(to registry: MetricsRegistry)
}

extension LedgerWriter: MetricsSource {
    /// The ledger's queue and what became of its records, so a lagging store shows before it hurts.
    func exportMetrics(to registry: MetricsRegistry) {
        registry.set(
            "switchyard_ledger_pending_records", help: "Usage records waiting for the ledger writer.", to: Int64(pendingCount))
        let counters = statistics
        for (state, value) in [
            ("written", counters.written), ("journaled", counters.journaled), ("replayed", counters.replayed),
            ("spilled", counters.spilled),
        ] {
            registry.set(
                "switchyard_ledger_records", help: "Usage records since start, by what the ledger writer did with them.",
                labels: [("state", state)], to: value)
        }
    }
}
