import SwitchyardCore

/// Turns the model name a client asked for into the deployments to try, in order.
public struct RoutePlanner: Sendable {
    private let routes: [String: Route]
    private let deployments: [String: Deployment]

    public init(routes: [Route], deployments: [Deployment]) {
        self.routes = Dictionary(routes.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
        self.deployments = Dictionary(deployments.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
    }

    public var routeNames: [String] { routes.keys.sorted() }

    public func route(named name: String) -> Route? { routes[name] }

    /// The candidate deployments for `route`. With `fallback`, the configured order.
    public func candidates(for route: Route) -> [Deployment] {
        switch route.strategy {
        case .fallback:
            route.targets.compactMap { deployments[$0] }
        }
    }
}
