import Governance
import HTTPTypes
import Hummingbird
import Ingress
import Ledger
import Observability
import Routing
import SwitchyardCore
import Telemetry
import WireFormats

extension Gateway {
    /// Rendering every series is work in proportion to the tenants and deployments: not on an
    /// event loop that serves requests.
    package func metricsResponseOffTheLoop() async -> Response {
        await withTaskExecutorPreference(globalConcurrentExecutor) { metricsResponse() }
    }

    /// The metrics listener (`observability.metrics_listen`): `makeMetricsResponder()` behind
    /// its own ingress, with few connections and no request body to speak of.
    public func makeMetricsServer(host: String, port: Int) -> IngressServer<RouterResponder<BasicRequestContext>> {
        IngressServer(
            responder: makeMetricsResponder(), host: host, port: port, maxBodyBytes: 1024, timeouts: ingressTimeouts,
            refusalBody: OpenAIError.body(of:), limits: IngressConnectionLimits(caps: .init(total: 64, perAddress: 64)),
            logger: logger)
    }

    /// What the metrics listener (`observability.metrics_listen`) serves: metrics and the health
    /// probes, without credentials, for a scraper on a trusted network.
    public func makeMetricsResponder() -> RouterResponder<BasicRequestContext> {
        let router = Router(context: BasicRequestContext.self)
        router.get("/metrics") { _, _ in await self.metricsResponseOffTheLoop() }
        router.get("/healthz") { request, _ in await self.health(request, detailed: true) }
        router.get("/readyz") { _, _ in self.readiness() }
        router.head("/healthz") { request, _ in await self.health(request, detailed: true) }
        router.head("/readyz") { _, _ in self.readiness() }
        return router.buildResponder()
    }

    func metricsResponse() -> Response {
        collectMetrics()
        return Response(
            status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
            body: .init(byteBuffer: ByteBuffer(string: metrics.render())))
    }

    /// Brings the values read only when asked (queues, connections, the store, the fleet, traces)
    /// up to date in the registry: before a scrape renders it, and every few seconds while metrics
    /// are pushed (`MetricsPush`).
    package func collectMetrics() {
        if let writer = usageSink as? MetricsSource { writer.exportMetrics(to: metrics) }
        connectionLimits.exportMetrics(to: metrics)
        logWriter?.exportMetrics(to: metrics)
        metrics.set(
            "switchyard_store_up", help: "Whether the store answered its last probe (1) or not (0).",
            to: storeHealth.current().reachable ? 1 : 0)
        if let fleet = governor.fleet { exportFleetMetrics(fleet) }
        if let slots = monitor.fleet { exportFleetSlotMetrics(slots) }
        if let traceExporter { exportTraceMetrics(traceExporter) }
        metrics.set(
            "switchyard_metric_name_conflicts_total",
            help: "Metric series asked for under a name already used as another kind or label shape (they record nothing).",
            kind: .counter, to: Int64(metrics.conflicts))
    }
}

extension Gateway {
    /// Shared quotas: how often a request had to wait for a lease step (the steady state has
    /// none), and which budgets spend a local share because the shared store is out of reach.
    func exportFleetMetrics(_ fleet: FleetLeases) {
        for (path, value) in [("request", fleet.requestSteps), ("background", fleet.backgroundSteps)] {
            metrics.set(
                "switchyard_fleet_lease_steps", help: "Lease steps on the shared quota store since start, by who waited.",
                labels: [("path", path)], to: Int64(value))
        }
        metrics.set(
            "switchyard_fleet_lease_failures", help: "Lease steps the shared quota store did not answer, since start.",
            to: Int64(fleet.failedSteps))
        metrics.set(
            "switchyard_fleet_fallback_budgets",
            help: "Shared budgets spending this replica's local share because the shared store is out of reach.",
            to: Int64(governor.budgets.budgetsInFallback))
        metrics.set(
            "switchyard_fleet_fallback_limits",
            help: "Shared rate limits refilling at this replica's share because the shared store is out of reach.",
            to: Int64(governor.limiter.limitsInFallback))
        metrics.set(
            "switchyard_fleet_fallback_concurrency_limits",
            help:
                "Shared concurrent_requests limits on this replica's share of their slots because the shared store is out of reach.",
            to: Int64(governor.limiter.concurrencyLimitsInFallback))
    }
}

extension Gateway {
    /// Deployment slots shared by the fleet: what this replica holds and uses of each, and which
    /// deployments run on this replica's share because the shared store is out of reach.
    func exportFleetSlotMetrics(_ slots: FleetSlots) {
        for (path, value) in [("request", slots.requestSteps), ("background", slots.backgroundSteps)] {
            metrics.set(
                "switchyard_fleet_slot_steps", help: "Slot lease steps on the shared store since start, by who waited.",
                labels: [("path", path)], to: Int64(value))
        }
        var fallback = 0
        for deployment in monitor.sharedDeployments {
            guard let held = monitor.fleetSlots(deployment) else { continue }
            if held.fallback { fallback += 1 }
            metrics.set(
                "switchyard_fleet_slots_held",
                help: "Slots of a deployment's fleet-wide max_concurrency this replica may use now (its lease, or its share).",
                labels: [("deployment", deployment)], to: Int64(held.holding))
        }
        metrics.set(
            "switchyard_fleet_fallback_deployments",
            help: "Deployments using this replica's share of their slots because the shared store is out of reach.",
            to: Int64(fallback))
    }
}

extension Gateway {
    /// Spans by what became of them: exported, lost with a failed export, or dropped because the
    /// export queue was full (a collector slow or gone); and how many wait now.
    func exportTraceMetrics(_ exporter: OTLPTraceExporter) {
        let help = "Trace spans since start: exported, failed (lost with a failed export) or dropped (the export queue was full)."
        let counts = [("exported", exporter.exported), ("failed", exporter.failed), ("dropped", exporter.buffer.dropped)]
        for (outcome, value) in counts {
            metrics.set(
                "switchyard_trace_spans_total", help: help, kind: .counter, labels: [("outcome", outcome)], to: Int64(value))
        }
        metrics.set(
            "switchyard_trace_spans_queued", help: "Trace spans waiting for export now.", to: Int64(exporter.buffer.count))
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
        if let trouble = writeAheadTrouble {
            for (kind, value) in [("failed_write", trouble.failedWrites), ("late_receipt", trouble.lateReceipts)] {
                registry.set(
                    "switchyard_ledger_write_ahead_trouble",
                    help:
                        "Write-ahead log troubles since start: failed writes (records went on without the log) and answers released by the 2 s deadline (a stalled disk).",
                    labels: [("kind", kind)], to: Int64(value))
            }
        }
        registry.set(
            "switchyard_ledger_store_failures_total",
            help: "Batches of usage records the store refused (each was journaled and is replayed later).", kind: .counter,
            to: counters.storeFailures)
    }
}

extension LogWriter: MetricsSource {
    /// Log lines that never reached the log: dropped while the writer was behind, or refused by
    /// the descriptor (a closed pipe, a full disk).
    func exportMetrics(to registry: MetricsRegistry) {
        let help = "Log lines not written: buffer_full (the writer fell behind) or write_failed (stderr refused them)."
        for (reason, lines) in [("buffer_full", droppedLines), ("write_failed", lostLines)] {
            registry.set(
                "switchyard_log_lines_lost_total", help: help, kind: .counter, labels: [("reason", reason)], to: Int64(lines))
        }
    }
}

extension IngressConnectionLimits: MetricsSource {
    /// Open client connections and those refused at accept, so a flood shows before it hurts.
    func exportMetrics(to registry: MetricsRegistry) {
        let snapshot = self.snapshot
        registry.set("switchyard_ingress_connections", help: "Client connections open now.", to: Int64(snapshot.open))
        let help = "Client connections closed at accept: over server.max_connections (total) or max_connections_per_ip."
        for (cap, refused) in [("total", snapshot.refusedTotal), ("per_ip", snapshot.refusedPerAddress)] {
            registry.set(
                "switchyard_ingress_connections_refused_total", help: help, kind: .counter, labels: [("cap", cap)],
                to: Int64(refused))
        }
        registry.set(
            "switchyard_ingress_accept_backoffs_total",
            help: "Accepts that failed (out of file descriptors) and paused accepting for 100 ms.", kind: .counter,
            to: Int64(snapshot.acceptBackoffs))
    }
}
