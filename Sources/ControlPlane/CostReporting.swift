import FinOps
import Foundation
import Logging
import Storage
import SwitchyardConfig
import SwitchyardCore

/// Ties the configuration and the store to the FinOps reports: prices for deployments the file
/// leaves unpriced, and the context every report reads.
public enum CostReporting {
    /// Gives each unpriced deployment its model's catalog price: imported (dated) prices over the
    /// shipped catalog, which covers the time before them. Deployments in neither stay free, named in the result.
    public static func priceFromCatalog(_ configuration: inout SwitchyardConfiguration, store: SQLStore) async throws
        -> (priced: [String: String], unpriced: [String])
    {
        let imported = try await store.modelPrices().map {
            ModelPrice(
                model: $0.model, effectiveFrom: $0.effectiveFrom, prices: $0.prices, contextWindow: $0.contextWindow,
                source: $0.source)
        }
        // Imported prices are dated history on top of the shipped catalog, which covers the time before them.
        let catalog = ModelPriceCatalog(ModelPriceCatalog.shipped + imported)
        let importedModels = Set(imported.map(\.model))
        var priced: [String: String] = [:]
        var unpriced: [String] = []
        for index in configuration.deployments.indices {
            let deployment = configuration.deployments[index]
            guard configuration.unpricedDeployments.contains(deployment.name) else { continue }
            if let schedule = catalog.schedule(for: deployment.model) {
                configuration.deployments[index].priceSchedule = schedule
                let model = deployment.model.split(separator: "/").last.map(String.init) ?? deployment.model
                priced[deployment.name] =
                    importedModels.contains(deployment.model) || importedModels.contains(model)
                    ? "imported" : "default-\(ModelPriceCatalog.shippedDate)"
            } else {
                unpriced.append(deployment.name)
            }
        }
        return (priced, unpriced.sorted())
    }

    /// What the reports know from the configuration; `healthy` tells whether a deployment is in rotation.
    public static func context(
        _ configuration: SwitchyardConfiguration, healthy: (String) -> Bool = { _ in true }
    ) -> FinOpsContext {
        var deployments: [String: Simulation.PricedDeployment] = [:]
        var capacities: [String: CapacityCost] = [:]
        for deployment in configuration.deployments {
            deployments[deployment.name] = Simulation.PricedDeployment(
                provider: deployment.provider, model: deployment.model, prices: deployment.priceSchedule)
            if let capacity = deployment.capacity { capacities[deployment.name] = capacity }
        }
        let routes = configuration.routes.map { route in
            ConcentrationReport.RouteTopology(
                name: route.name,
                targets: route.targets.compactMap { target in
                    configuration.deployment(named: target.deployment).map { ($0.provider, healthy($0.name)) }
                })
        }
        var regions: [String: String] = [:]
        for provider in configuration.providers { regions[provider.name] = provider.region }
        return FinOpsContext(
            deployments: deployments, capacities: capacities, commitments: configuration.commitments, regions: regions,
            routes: routes, maxProviderShare: configuration.finOps.maxProviderShare)
    }

    /// Runs one report against the store; with a `tenant`, over that tenant's traffic only, with
    /// no self-hosted capacity allocated (capacity is the gateway's, shared by every tenant).
    public static func report(_ query: ReportQuery, store: SQLStore, context: FinOpsContext, tenant: String? = nil)
        async throws -> ReportTable
    {
        let range = query.rollupRange(context: context)
        // A cost report by one tag, or a unit report by tenant or deployment (its tasks are
        // counted by one tag), reads that tag's rollups and the coarse rollups' remainder.
        if let (key, keepingTenant) = tagRollupsAnswer(query) {
            let rollups = try await store.usageRollups(
                since: range.start, until: range.end, byTag: key, tenant: tenant, keepingTenant: keepingTenant)
            var own = context
            if tenant != nil { own.capacities = [:] }
            return query.table(rollups: rollups, context: own)
        }
        guard let tenant else {
            let rollups = try await store.usageRollups(since: range.start, until: range.end, keeping: attributes(for: query))
            return query.table(rollups: rollups, context: context)
        }
        let rollups = try await store.usageRollups(
            since: range.start, until: range.end, keeping: attributes(for: query).union([.tenant]), tenant: tenant)
        var own = context
        own.capacities = [:]
        return query.table(rollups: rollups, context: own)
    }

    /// The tag whose rollups answer `query`, and whether per tenant; nil for the full rollups.
    static func tagRollupsAnswer(_ query: ReportQuery) -> (key: String, keepingTenant: Bool)? {
        switch (query.kind, query.dimension) {
        case (.cost, .tag(let key)): (key, false)
        case (.unit, .tenant): (query.taskMarker.key, true)
        case (.unit, .deployment): (query.taskMarker.key, false)
        default: nil
        }
    }

    /// The rollup attributes a report groups by; the store sums the rest away.
    static func attributes(for query: ReportQuery) -> Set<RollupAttribute> {
        func attribute(_ dimension: CostDimension) -> RollupAttribute {
            switch dimension {
            case .tenant: .tenant
            case .agent: .agent
            case .key: .key
            case .route: .route
            case .deployment: .deployment
            case .provider: .provider
            case .model: .model
            case .tag: .tags
            }
        }
        switch query.kind {
        // The deployment stays for allocating self-hosted capacity.
        case .cost: return [attribute(query.dimension), .deployment]
        case .unit: return [attribute(query.dimension), .deployment, .tags]
        case .commitments: return [.provider]
        case .concentration: return [.provider, .model]
        }
    }

    /// What a simulation groups by and re-prices with.
    public static let simulationAttributes: Set<RollupAttribute> = [.tenant, .route, .deployment]
}
