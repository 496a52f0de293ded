import DataPlane
import Logging
import Providers
import Routing
import ServiceLifecycle
import SwitchyardConfig
import SwitchyardCore

/// Active health checks: providers with `health_check` are probed on their interval; while a
/// probe fails, all of the provider's deployments are skipped by routing. (Passive ejection is
/// each deployment's circuit breaker.)
public final class ProviderHealthChecker: Service {
    private let probes: [(adapter: ProviderAdapter, check: HealthCheck, deployments: [String])]
    private let transport: any UpstreamTransport
    private let monitor: DeploymentMonitor
    private let logger: Logger

    public init(gateway: Gateway) {
        let configuration = gateway.configuration
        self.probes = configuration.providers.compactMap { provider in
            guard let check = provider.healthCheck, let adapter = gateway.adapters[provider.name] else { return nil }
            let deployments = configuration.deployments.filter { $0.provider == provider.name }.map(\.name)
            return (adapter, check, deployments)
        }
        self.transport = gateway.transport
        self.monitor = gateway.monitor
        self.logger = gateway.logger
    }

    public func run() async throws {
        guard !probes.isEmpty else { return try await gracefulShutdown() }
        try? await cancelWhenGracefulShutdown {
            await withTaskGroup(of: Void.self) { group in
                for probe in self.probes {
                    group.addTask { await self.watch(probe.adapter, probe.check, probe.deployments) }
                }
            }
        }
    }

    private func watch(_ adapter: ProviderAdapter, _ check: HealthCheck, _ deployments: [String]) async {
        var passing = true
        while !Task.isCancelled {
            let now = await probe(adapter, check)
            if now != passing {
                logger.warning(
                    now
                        ? "health check passing again; deployments back in rotation"
                        : "health check failing; deployments ejected",
                    metadata: [
                        "provider": .string(adapter.provider.name), "deployments": .string(deployments.joined(separator: ",")),
                    ])
                passing = now
                monitor.setHealthCheck(passing: now, deployments: deployments)
            }
            try? await Task.sleep(for: check.interval)
        }
    }

    func probe(_ adapter: ProviderAdapter, _ check: HealthCheck) async -> Bool {
        let transport = self.transport
        let request = adapter.healthRequest(check)
        do {
            let response = try await withUpstreamDeadline(check.timeout, "health check") { () throws(UpstreamFailure) in
                try await transport.send(request)
            }
            _ = try? await response.body.collect(upTo: 1 << 20)
            return (200..<300).contains(response.status)
        } catch {
            return false
        }
    }
}
