import Hummingbird
import Ledger
import Observability
import SwitchyardCore

extension Gateway {
    /// Updates the Prometheus metrics and writes the request's one log line.
    func observe(_ record: UsageRecord, latency: Duration, timeToFirstToken: Duration?) {
        let route = record.route ?? ""
        let deployment = record.deployment ?? ""
        let provider = record.provider ?? ""
        // One lock for the request's updates, not one each.
        metrics.batch { m in
            m.increment(
                "switchyard_requests_total", help: "Requests handled, by outcome.",
                labels: [
                    ("endpoint", record.endpoint), ("route", route), ("deployment", deployment), ("provider", provider),
                    ("status", String(record.status)),
                ])
            m.observe(
                "switchyard_request_duration_seconds", help: "Time from request received to response complete.",
                labels: [("endpoint", record.endpoint), ("route", route)], seconds: latency.seconds)
            if let timeToFirstToken {
                m.observe(
                    "switchyard_time_to_first_token_seconds", help: "Time from request received to first streamed token.",
                    labels: [("route", route), ("deployment", deployment)], seconds: timeToFirstToken.seconds)
            }
            if let tenant = record.tenant, record.deployment != nil {
                let estimated = record.usage.isEstimated ? "true" : "false"
                func tokens(_ type: String, _ count: Int) {
                    guard count > 0 else { return }
                    m.increment(
                        "switchyard_tokens_total", help: "Tokens consumed, by tenant and deployment.",
                        labels: [("tenant", tenant), ("deployment", deployment), ("type", type), ("estimated", estimated)],
                        by: Int64(count))
                }
                tokens("input", record.usage.inputTokens)
                tokens("output", record.usage.outputTokens)
                tokens("cached_input", record.usage.cachedInputTokens)
                m.increment(
                    "switchyard_cost_nanos_total", help: "Cost in nano-units (1e-9) of the currency, by tenant and deployment.",
                    labels: [("tenant", tenant), ("deployment", deployment), ("currency", record.cost.currency)],
                    by: record.cost.nanos)
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
