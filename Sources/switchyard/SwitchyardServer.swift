import ControlPlane
import CoreMetrics
import DataPlane
import FinOps
import FleetState
import Foundation
import Governance
import Hummingbird
import Ingress
import Ledger
import Logging
import Observability
import Providers
import Routing
import ServiceLifecycle
import Storage
import SwitchyardConfig
import SwitchyardCore
import Synchronization
import Telemetry
import WireFormats

/// `switchyard serve`: the store, the ledger writer, the key directory and the HTTP server,
/// run as one service group that shuts down in the safe order on SIGTERM/SIGINT.
public struct SwitchyardServer {
    public let configuration: SwitchyardConfiguration
    public var logger: Logger

    public init(configuration: SwitchyardConfiguration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
    }

    public func run(onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }) async throws {
        guard let storageURL = StorageURL(configuration.storage.url) else {
            throw ServerError("storage.url '\(configuration.storage.url)' is not sqlite://PATH or postgres://…")
        }
        // A configured audit key that cannot be used stops start-up: entries appended without it
        // would break the chain for `audit verify`.
        let auditKeyring: AuditKeyring?
        do {
            auditKeyring = try configuration.audit.keyring()
        } catch {
            throw ServerError("\(error)")
        }
        let store = try await SQLStore.open(
            storageURL, rollupTagKeys: configuration.finOps.rollupTags, auditSigning: auditKeyring.map { .keys($0) } ?? .off)
        try await store.ensureTenants(configuration.tenants.map(\.name))
        var configuration = configuration
        let catalog = try await CostReporting.priceFromCatalog(&configuration, store: store)
        for (deployment, source) in catalog.priced.sorted(by: { $0.key < $1.key }) {
            logger.info(
                "deployment priced from the model catalog", metadata: ["deployment": "\(deployment)", "source": "\(source)"])
        }
        for deployment in catalog.unpriced {
            logger.warning(
                "deployment has no price and its model is not in the catalog: its usage is recorded at zero cost",
                metadata: ["deployment": "\(deployment)"])
        }
        let writer = LedgerWriter(
            store: store, configuration: .init(journalPath: configuration.storage.journalPath, writeAhead: true),
            logger: logger)
        let keys = KeyDirectory(store: store, logger: logger)
        try? await keys.refresh()
        let transport = NIOHTTPTransport()
        let audit = AuditTrail(store: store, logger: logger)
        let checkpoints = auditKeyring.flatMap { auditCheckpointWriter(store: store, keyring: $0, transport: transport) }
        let fleetStore = try configuration.storage.redisURL.map { url in
            do { return try RedisFleetStore(url: url) } catch { throw ServerError("storage.redis_url: \(error)") }
        }
        let governor = try await GovernanceSetup.governor(
            configuration, store: store, audit: audit, transport: transport, fleetStore: fleetStore, logger: logger)
        // Deployment slots are leased by the same instance (replica id) that leases budgets.
        let logger = logger
        let fleetSlots: FleetSlots? =
            if let url = configuration.storage.redisURL, let fleet = governor.fleet {
                // A connection of its own: a deployment's busy queue does not hold up budget steps.
                FleetSlots(
                    replica: fleet.replica, store: try RedisFleetStore(url: url), leaseMilliseconds: fleet.leaseMilliseconds,
                    reachability: { reachable, error in
                        if reachable {
                            logger.notice("shared slot store reachable again; deployment slots are leased again")
                        } else {
                            logger.error(
                                "shared slot store unreachable; each deployment falls back to this replica's share of its slots",
                                metadata: ["error": "\(error.map { "\($0)" } ?? "")"])
                        }
                    })
            } else { nil }
        let traces = try Traces.configured(
            configuration.observability.tracing, replica: configuration.server.replicaID,
            environment: ProcessInfo.processInfo.environment, logger: logger)
        // Before the gateway: every series it makes goes to both backends from the first.
        let metricsPush = try MetricsExportSettings.configured(
            configuration.observability, replica: configuration.server.replicaID,
            environment: ProcessInfo.processInfo.environment, logger: logger
        ).flatMap { MetricsPush.make(settings: $0, catalog: MetricFamilies.catalog, logger: logger) }
        let gateway = Gateway(
            configuration: configuration, store: store, keys: keys, usageSink: writer, transport: transport,
            metrics: MetricsRegistry(push: metricsPush?.factory), governor: governor, fleetSlots: fleetSlots,
            traces: traces, logger: logger, logWriter: .standardError)
        // Whatever records through swift-metrics lands in the same backends as the data plane's
        // metrics: on /metrics and in the OTLP push. Once per process, as swift-metrics requires.
        MetricsSystem.bootstrap(gateway.metricsFactory)
        try await gateway.startLiveGovernance()
        let governanceWatcher = GovernanceWatcher(gateway: gateway)
        // Pushed metrics stop last, after the ledger's flush: their last push has its counts.
        let metricsPushService = metricsPush.map { $0.service(collecting: { [gateway] in gateway.collectMetrics() }) }
        let killSwitches = KillSwitchWatcher(store: store, board: governor.kills, logger: logger)
        try? await killSwitches.refresh()
        let healthChecker = ProviderHealthChecker(gateway: gateway)
        let commitmentWatcher = CommitmentWatcher(gateway: gateway, interval: configuration.finOps.checkInterval)
        let incidents = IncidentWatcher(gateway: gateway)
        let admin = AdminAPI(gateway: gateway, incidents: incidents)
        let server = gateway.makeServer(serving: [admin, Console(api: admin)], onServerRunning: onServerRunning)
        let runShares = RunShareSync(store: store, runs: governor.runs, logger: logger)
        var services: [any Service] = [
            writer, audit, keys, killSwitches, governanceWatcher, healthChecker, commitmentWatcher, runShares,
        ]
        if let incidents { services.append(incidents) }
        if let prober = CanaryProber(gateway: gateway) { services.append(prober) }
        if case .postgres(let url) = storageURL {
            services.append(
                StoreChangeWatcher(
                    url: url,
                    signals: [.killSwitches: killSwitches.changed, .keys: keys.changed, .governance: governanceWatcher.changed],
                    logger: logger))
        }
        if let fleet = governor.fleet {
            services.append(
                FleetLeaseKeeper(governor: governor, fleet: fleet, slots: fleetSlots.map { ($0, gateway.monitor) }))
        }
        if let host = configuration.observability.metricsHost, let port = configuration.observability.metricsPort {
            services.append(gateway.makeMetricsServer(host: host, port: port))
        }
        services.append(server)
        logStartup(storageURL, configuration)
        logDescriptorLimit(DescriptorLimit.raiseToMaximum(), configuration)
        // Shutdown runs in reverse order: the server drains first, then keys stop refreshing,
        // then the audit trail and the ledger writer flush what every answered request left, and
        // the last audit checkpoint records the final head.
        let group = ServiceGroup(
            configuration: .init(
                // Trace export shuts down last, after the last requests' spans and the last checkpoint.
                services: (traces.map { [$0.exporter] } ?? []) + (metricsPushService.map { [$0] } ?? [])
                    + (checkpoints.map { [$0] } ?? []) + services,
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger))
        try await group.run()
        await transport.shutdown()
        await closeStore(store)
    }

    /// Closes the store's connections, but does not wait past `limit` for a call still running on
    /// a hung store: every record is in the store or the journal by now, and the process is ending.
    private func closeStore(_ store: SQLStore, limit: Duration = .seconds(10)) async {
        // Unstructured: a task group would wait for a hung close before it could return.
        let answered = Mutex(false)
        let closed = await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
            let answer = { @Sendable (closed: Bool) in
                guard
                    answered.withLock({ done in
                        defer { done = true }; return !done
                    })
                else { return }
                continuation.resume(returning: closed)
            }
            Task {
                await store.close()
                answer(true)
            }
            Task {
                try? await Task.sleep(for: limit)
                answer(false)
            }
        }
        if !closed { logger.warning("the store did not close within \(limit); exiting without waiting for it") }
    }

    /// The checkpoint writer `audit:` asks for, if any.
    private func auditCheckpointWriter(
        store: SQLStore, keyring: AuditKeyring, transport: any UpstreamTransport
    ) -> AuditCheckpointWriter? {
        let audit = configuration.audit
        guard audit.writesCheckpoints else { return nil }
        var post: (@Sendable ([UInt8]) async -> Void)?
        if audit.checkpointToAlertWebhook, let webhook = configuration.governance.alertWebhook {
            post = { [logger] body in await GovernanceSetup.post(body, to: webhook, transport: transport, logger: logger) }
        }
        return AuditCheckpointWriter(
            store: store, keyring: keyring, file: audit.checkpointFile, post: post, everyEntries: audit.checkpointEveryEntries,
            interval: audit.checkpointInterval, logger: logger)
    }

    /// Says what the descriptor limit leaves for client connections; past it, accepts fail with
    /// EMFILE and the server pauses accepting (100 ms at a time) instead of spinning.
    private func logDescriptorLimit(_ limit: Int, _ configuration: SwitchyardConfiguration) {
        let room = limit - DescriptorLimit.reserved
        let metadata: Logger.Metadata = [
            "open_files_limit": "\(limit)", "max_connections": "\(configuration.server.maxConnections)",
            "max_connections_per_ip": "\(configuration.server.maxConnectionsPerIP)",
        ]
        if configuration.server.maxConnections > room {
            logger.warning(
                "server.max_connections is above what the open-files limit leaves for clients: raise the limit (ulimit -n) or lower the cap",
                metadata: metadata)
        } else {
            logger.info("connection limits", metadata: metadata)
        }
    }

    private func logStartup(_ storageURL: StorageURL, _ configuration: SwitchyardConfiguration) {
        logger.info(
            "switchyard listening",
            metadata: [
                "address": "\(configuration.server.host):\(configuration.server.port)", "storage": "\(storageURL)",
                "config": "\(configuration.sourcePath ?? "(built-in defaults)")",
                "routes": "\(configuration.routes.map(\.name).joined(separator: ","))",
            ])
        if configuration.providers.isEmpty {
            logger.notice(
                "no providers configured: copy switchyard.example.yaml to switchyard.yaml, declare a provider, a deployment, a route and a tenant, then restart; create a key with 'switchyard keys create --tenant NAME'"
            )
        }
        for provider in configuration.providers {
            if let variable = provider.apiKeyEnv, ProcessInfo.processInfo.environment[variable] == nil {
                logger.warning(
                    "provider API key variable is not set", metadata: ["provider": "\(provider.name)", "variable": "\(variable)"])
            }
        }
    }
}
