import DataPlane
import Governance
import HTTPTypes
import Hummingbird
import Logging
import Routing
import Storage
import SwitchyardConfig
import SwitchyardCore

/// The admin API (`/admin/v1/…`, described by `AdminEndpoint.all`) and `/metrics` on the main
/// listener: served next to the data plane's routes (`ServedRoutes`), for admin credentials only.
///
/// It changes the gateway's live state (governance, kill switches, keys) through the same
/// `Gateway` the data plane serves from, so a change is in force on the next request.
public final class AdminAPI: ServedRoutes {
    let gateway: Gateway

    /// This replica's incident detection, for undoing a mitigation (nil: detection off).
    let incidents: IncidentWatcher?

    public init(gateway: Gateway, incidents: IncidentWatcher? = nil) {
        self.gateway = gateway
        self.incidents = incidents
    }

    var configuration: SwitchyardConfiguration { gateway.configuration }
    var environment: [String: String] { gateway.environment }
    var store: SQLStore { gateway.store }
    var governor: Governor { gateway.governor }
    var monitor: DeploymentMonitor { gateway.monitor }
    var logger: Logger { gateway.logger }
    var tenants: [String: Tenant] { gateway.tenants }
    func tenant(named name: String) -> Tenant? { gateway.tenant(named: name) }

    public var fixedRoutes: [FixedRoute] {
        [.init(.get, "/metrics") { await self.authorizedMetrics($0) }]
    }

    public func register(on router: Router<BasicRequestContext>) {
        registerAdminRoutes(on: router)
    }

    /// `/metrics` on the main listener. It shows every tenant's spend, so it needs the metrics
    /// token (`observability.metrics_token_env`) or an admin credential not bound to a tenant.
    func authorizedMetrics(_ request: Request) async -> Response {
        guard let header = request.headers.value(of: .authorization), let presented = BearerToken.credential(header) else {
            return Self.metricsRefusal(.unauthorized, "Metrics need a Bearer token: the metrics token or an admin key.")
        }
        if Self.token(presented, isTheSecretIn: configuration.observability.metricsTokenEnv, of: environment) {
            return await gateway.metricsResponseOffTheLoop()
        }
        guard let principal = await adminPrincipal(request) else {
            return Self.metricsRefusal(.unauthorized, "Metrics need a Bearer token: the metrics token or an admin key.")
        }
        guard principal.tenant == nil else {
            return Self.metricsRefusal(
                .forbidden, "Metrics show every tenant: a credential bound to one tenant may not read them.")
        }
        return await gateway.metricsResponseOffTheLoop()
    }

    static func metricsRefusal(_ status: HTTPResponse.Status, _ message: String) -> Response {
        var response = adminError(status, status == .unauthorized ? "authentication_error" : "permission_error", message)
        if status == .unauthorized { response.headers[.wwwAuthenticate] = "Bearer" }
        return response
    }
}
