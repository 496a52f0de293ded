import Foundation

/// A what-if for recorded traffic: other prices, some of a route's traffic moved to other
/// deployments, provider discounts. Token counts are kept as recorded.
public struct Scenario: Hashable, Sendable {
    /// A deployment the scenario can move traffic to, existing or hypothetical.
    public struct ScenarioDeployment: Hashable, Sendable {
        public var name: String
        public var provider: String
        public var model: String
        public var prices: PriceSchedule

        public init(name: String, provider: String, model: String, prices: PriceSchedule) {
            self.name = name
            self.provider = provider
            self.model = model
            self.prices = prices
        }
    }

    /// `share` (0…1) of `route`'s traffic — only what was served by `from`, when given — goes to `to`.
    public struct Move: Hashable, Sendable {
        public var route: String
        public var from: String?
        public var to: String
        public var share: Decimal

        public init(route: String, from: String? = nil, to: String, share: Decimal = 1) {
            self.route = route
            self.from = from
            self.to = to
            self.share = share
        }
    }

    public var deployments: [ScenarioDeployment]
    /// Replacement prices by deployment name or model id (deployment name wins).
    public var prices: [String: PriceSchedule]
    public var moves: [Move]
    /// Discount rate (0…1) by provider.
    public var discounts: [String: Decimal]

    public init(
        deployments: [ScenarioDeployment] = [], prices: [String: PriceSchedule] = [:], moves: [Move] = [],
        discounts: [String: Decimal] = [:]
    ) {
        self.deployments = deployments
        self.prices = prices
        self.moves = moves
        self.discounts = discounts
    }
}
