import HTTPTypes
import Hummingbird

/// The gateway's responder: a request for one of the fixed routes (exact method and path, no
/// query) goes straight to its handler; anything else to the router, which answers it as it
/// would have (parameters, 404, 405). Resolving every path through the router's trie cost a
/// measurable share of a proxied request (README, Performance).
public struct GatewayResponder<Router: HTTPResponder>: HTTPResponder where Router.Context == BasicRequestContext {
    public typealias Context = BasicRequestContext

    let fixedRoutes: [FixedRoute]
    let router: Router

    public func respond(to request: Request, context: Context) async throws -> Response {
        // A linear scan: a handful of routes, the busiest first, compared by length before bytes.
        let path = request.head.path ?? ""
        for route in fixedRoutes where route.method == request.method && route.path == path {
            return await route.handle(request)
        }
        // Everything else: routes with parameters (the admin API moves its work off the event
        // loop itself), a path with a query, 404 and 405.
        return try await router.respond(to: request, context: context)
    }
}

/// Routes served on the data plane's listener next to its own: the control plane's.
public protocol ServedRoutes: Sendable {
    /// Routes without path parameters, found by exact method and path before the router.
    var fixedRoutes: [FixedRoute] { get }
    /// Adds the routes with path parameters.
    func register(on router: Router<BasicRequestContext>)
}

/// A route without path parameters: one method, one exact path, its handler.
public struct FixedRoute: Sendable {
    let method: HTTPRequest.Method
    let path: String
    let handle: @Sendable (Request) async -> Response

    public init(_ method: HTTPRequest.Method, _ path: String, _ handle: @escaping @Sendable (Request) async -> Response) {
        self.method = method
        self.path = path
        self.handle = handle
    }
}
