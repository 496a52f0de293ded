import Governance
import Hummingbird
import Routing
import SwitchyardCore
import WireFormats

/// The plan stage's choices: the route a request's `model` names (and the principal's right to
/// use it), the routing hints a client may give in headers, and the candidate deployments for a
/// request's profile under the tenant's and the policy's rules. The gateway's `planRoute` runs
/// them between authorize and admit.
struct RouteSelection: Sendable {
    let planner: RoutePlanner
    let monitor: DeploymentMonitor
    let governor: Governor

    /// The routes a tenant may use, in configuration order.
    func routeNames(usableBy tenant: Tenant?) -> [String] {
        planner.routeNames.filter { tenant?.mayUse(route: $0) ?? false }
    }

    /// Finds the route for `model` and checks the principal may use it.
    func resolve(_ model: String, principal: Principal, context: inout RequestContext) throws(OpenAIError) -> Route {
        let tenant = governor.tenant(named: principal.tenant)
        guard let route = planner.route(named: model) else {
            throw .modelNotFound(model, available: routeNames(usableBy: tenant))
        }
        context.route = route.name
        guard tenant?.mayUse(route: route.name) == true else {
            throw .modelNotAllowed(model, tenant: principal.tenant)
        }
        return route
    }

    /// Routing hints from `x-switchyard-deployment` (pin) and `x-switchyard-strategy`.
    func hints(_ request: Request) throws(OpenAIError) -> RoutingHints {
        var hints = RoutingHints(deployment: request.headers.value(of: .switchyardDeployment))
        if let strategy = request.headers.value(of: .switchyardStrategy) {
            guard let parsed = RouteStrategy(rawValue: strategy) else {
                throw .invalidRequest(
                    "Invalid x-switchyard-strategy '\(strategy)' (expected one of: \(RouteStrategy.allCases.map(\.rawValue).joined(separator: ", ")))."
                )
            }
            hints.strategy = parsed
        }
        return hints
    }

    /// Plans the request on its route, turning refusals into the client's error.
    func plan(
        _ route: Route, profile: RequestProfile, principal: Principal, policy: EffectivePolicy = .unrestricted,
        hints: RoutingHints
    ) throws(OpenAIError) -> RoutePlan {
        let residency = policy.residency.map { (owner: "policy '\($0.policy)'", residency: $0.residency) }
        switch planner.plan(
            route, profile: profile, tenant: governor.tenant(named: principal.tenant), hints: hints, policyResidency: residency,
            monitor: monitor)
        {
        case .success(let plan):
            return plan
        case .failure(.forbidden(let reason)):
            throw OpenAIError(
                status: 403, message: "Not allowed: \(reason).", type: "permission_error", code: "policy_denied",
                errorClass: .policyDenied)
        case .failure(.unsatisfiable(let reason)):
            throw .invalidRequest("Cannot serve this request: \(reason).", code: "unsupported_capability")
        case .failure(.belowQuality(let reason)):
            throw OpenAIError(
                status: 503, message: "No deployment good enough: \(reason).", type: "api_error",
                code: "below_min_quality", errorClass: .noHealthyDeployment, retryAfterSeconds: 60)
        case .failure(.contextTooLong(let reason)):
            var error = OpenAIError.invalidRequest("Too long: \(reason).", param: "messages", code: "context_length_exceeded")
            error.errorClass = .contextTooLong
            throw error
        }
    }
}
