import Foundation
import SwitchyardCore

/// What the reports need to know besides the ledger: prices, capacity, contracts, routes.
public struct FinOpsContext: Sendable {
    public var deployments: [String: Simulation.PricedDeployment]
    public var capacities: [String: CapacityCost]
    public var commitments: [Commitment]
    public var regions: [String: String]
    public var routes: [ConcentrationReport.RouteTopology]
    public var maxProviderShare: Decimal

    public init(
        deployments: [String: Simulation.PricedDeployment] = [:], capacities: [String: CapacityCost] = [:],
        commitments: [Commitment] = [], regions: [String: String] = [:], routes: [ConcentrationReport.RouteTopology] = [],
        maxProviderShare: Decimal = Decimal(string: "0.6")!
    ) {
        self.deployments = deployments
        self.capacities = capacities
        self.commitments = commitments
        self.regions = regions
        self.routes = routes
        self.maxProviderShare = maxProviderShare
    }
}
