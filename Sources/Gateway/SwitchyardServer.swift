import FinOps
import Foundation
import Governance
import Hummingbird
import Ledger
import Logging
import Observability
import Providers
import ServiceLifecycle
import Storage
import SwitchyardConfig
import SwitchyardCore

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
        let store = try await SQLStore.open(storageURL, rollupTagKeys: configuration.finOps.rollupTags)
        try await store.ensureTenants(configuration.tenants.map(\.name))
        var configuration = configuration
        let catalog = try await FinOpsSetup.priceFromCatalog(&configuration, store: store)
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
            store: store, configuration: .init(journalPath: configuration.storage.journalPath), logger: logger)
        let keys = KeyDirectory(store: store, logger: logger)
        try? await keys.refresh()
        let transport = NIOHTTPTransport()
        let audit = AuditTrail(store: store, logger: logger)
        let governor = try await GovernanceSetup.governor(
            configuration, store: store, audit: audit, transport: transport, logger: logger)
        let gateway = Gateway(
            configuration: configuration, store: store, keys: keys, usageSink: writer, transport: transport,
            governor: governor, logger: logger)
        try await gateway.startLiveGovernance()
        let governanceWatcher = GovernanceWatcher(gateway: gateway)
        let killSwitches = KillSwitchWatcher(store: store, board: governor.kills, logger: logger)
        try? await killSwitches.refresh()
        let healthChecker = ProviderHealthChecker(gateway: gateway)
        let commitmentWatcher = CommitmentWatcher(gateway: gateway, interval: configuration.finOps.checkInterval)
        let server = IngressServer(
            responder: gateway.makeResponder(), host: configuration.server.host,
            port: configuration.server.port, maxBodyBytes: configuration.server.maxBodyBytes,
            timeouts: IngressTimeouts(
                idle: configuration.server.idleTimeout, requestRead: configuration.server.requestReadTimeout),
            logger: logger, onServerRunning: onServerRunning)
        logStartup(storageURL, configuration)
        // Shutdown runs in reverse order: the server drains first, then keys stop refreshing,
        // then the audit trail and the ledger writer flush what every answered request left.
        let group = ServiceGroup(
            configuration: .init(
                services: [writer, audit, keys, killSwitches, governanceWatcher, healthChecker, commitmentWatcher, server],
                gracefulShutdownSignals: [.sigterm, .sigint],
                logger: logger))
        try await group.run()
        await transport.shutdown()
        await store.close()
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

public struct ServerError: Error, CustomStringConvertible {
    public var description: String
    public init(_ description: String) { self.description = description }
}
