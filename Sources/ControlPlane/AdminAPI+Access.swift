import DataPlane
import Foundation
import HTTPTypes
import Hummingbird
import SwitchyardCore

/// Who calls the admin API: the bootstrap key from `admin.key_env` (role admin) or a stored admin key.
struct AdminPrincipal: Sendable, Equatable {
    var role: AdminRole
    var tenant: String?
    /// The stored key's id; nil for the bootstrap key.
    var keyID: String?

    var auditName: String { keyID.map { "admin-key:\($0)" } ?? "admin" }

    /// The authority of the kill switches it engages, and that it needs to release one.
    var killSwitchAuthority: KillSwitch.Authority { role == .admin ? .admin : .tenantAdmin }

    /// Whether the path names a tenant other than the one this credential is bound to.
    func isForeign(_ pathTenant: String?) -> Bool {
        guard role != .admin, let tenant, let pathTenant else { return false }
        return pathTenant != tenant
    }

    /// Whether this principal may call `endpoint` for `tenant` (the path's, if any).
    func may(_ endpoint: AdminEndpoint, tenant pathTenant: String?) -> Bool {
        if endpoint.access == .govern { return role == .admin && tenant == nil }
        if endpoint.access == .write && role == .viewer { return false }
        if role == .admin { return true }
        // Bound credentials never reach gateway-wide endpoints, nor another tenant's paths.
        if let tenant {
            if endpoint.gatewayWide { return false }
            if let pathTenant { return pathTenant == tenant }
            return true
        }
        return role == .viewer
    }
}

extension AdminAPI {
    /// Registers every admin endpoint behind authentication and authorisation, and the
    /// OpenAPI document (public: it describes, it holds no data).
    func registerAdminRoutes(on router: Router<BasicRequestContext>) {
        for endpoint in AdminEndpoint.all {
            router.on(RouterPath(endpoint.routerPath), method: endpoint.method) { request, context in
                var parameters: [String: String] = [:]
                for name in endpoint.parameters { parameters[name] = context.parameters.get(name) ?? "" }
                return await self.authorizedAdmin(request, endpoint: endpoint, parameters: parameters)
            }
        }
        router.get("/admin/v1/openapi.json") { _, _ in
            Response(
                status: .ok, headers: [.contentType: "application/json"],
                body: .init(byteBuffer: ByteBuffer(string: AdminOpenAPI.document)))
        }
    }

    func authorizedAdmin(_ request: Request, endpoint: AdminEndpoint, parameters: [String: String]) async -> Response {
        guard let principal = await adminPrincipal(request) else {
            return Self.adminError(
                .unauthorized, "authentication_error", "This endpoint needs an admin key (sya-…) as a Bearer token.")
        }
        return await serve(request, endpoint: endpoint, parameters: parameters, as: principal)
    }

    /// One endpoint for an authenticated principal, behind the access table: the API's requests
    /// and the console's (which signs in by session, not by Bearer token) pass the same checks.
    func serve(_ request: Request, endpoint: AdminEndpoint, parameters: [String: String], as principal: AdminPrincipal)
        async -> Response
    {
        let tenant = endpoint.tenantScoped ? parameters["tenant"] : nil
        // Another tenant is "no such tenant", the very answer an absent one gets, so a bound
        // credential cannot learn which tenants exist.
        if principal.isForeign(tenant) { return Self.noSuchTenant() }
        guard principal.may(endpoint, tenant: tenant) else {
            return Self.adminError(
                .forbidden, "permission_error",
                "This credential (\(principal.role.rawValue)) may not \(endpoint.access == .read ? "read" : "change") this.")
        }
        if let tenant, self.tenant(named: tenant) == nil, !endpoint.createsTenant {
            return Self.noSuchTenant()
        }
        // Reports aggregate, audit verification hashes, plans diff: none of it runs on the
        // connection's event loop, which other connections' requests share.
        return await withTaskExecutorPreference(globalConcurrentExecutor) {
            await endpoint.handle(self, request, AdminCall(principal: principal, parameters: parameters))
        }
    }

    /// One body for an absent tenant and a forbidden one: it names neither.
    static func noSuchTenant() -> Response { adminError(.notFound, "not_found", "No such tenant.") }

    /// Whether `presented` is the secret held by the environment variable `variable` (never when
    /// it is unset or empty), compared by digest.
    static func token(_ presented: String, isTheSecretIn variable: String?, of environment: [String: String]) -> Bool {
        guard let variable, let expected = environment[variable], !expected.isEmpty else { return false }
        return APIKeyFormat.hash(presented) == APIKeyFormat.hash(expected)
    }

    /// Resolves the Bearer token: the bootstrap key compared by digest, or a stored admin key.
    func adminPrincipal(_ request: Request) async -> AdminPrincipal? {
        guard let header = request.headers.value(of: .authorization), let presented = BearerToken.credential(header) else {
            return nil
        }
        return await adminPrincipal(presenting: presented)
    }

    /// The principal an admin key stands for: the bootstrap key, or a stored key not revoked.
    func adminPrincipal(presenting presented: String) async -> AdminPrincipal? {
        if Self.token(presented, isTheSecretIn: configuration.admin.keyEnv, of: environment) {
            return AdminPrincipal(role: .admin, tenant: nil, keyID: nil)
        }
        guard let id = AdminKeyFormat.keyID(of: presented), let record = try? await store.adminKey(id: id),
            record.revokedAt == nil, APIKeyFormat.hash(presented) == record.hash
        else { return nil }
        return AdminPrincipal(role: record.role, tenant: record.tenant, keyID: record.id)
    }
}

/// The OpenAPI 3.1 description of the admin API, generated from `AdminEndpoint.all`.
enum AdminOpenAPI {
    static let document: String = {
        var paths: [String: [(String, AdminEndpoint)]] = [:]
        for endpoint in AdminEndpoint.all {
            paths[endpoint.path, default: []].append((endpoint.method.rawValue.lowercased(), endpoint))
        }
        let quoted = AuditValue.jsonString
        let items = paths.keys.sorted().map { path -> String in
            let operations = paths[path]!.map { method, endpoint -> String in
                let parameters = endpoint.parameters.map {
                    #"{"name":\#(quoted($0)),"in":"path","required":true,"schema":{"type":"string"}}"#
                }
                let roles =
                    switch (endpoint.access, endpoint.gatewayWide) {
                    case (.govern, _), (.write, true): "admin"
                    case (.write, false): "admin, tenant-admin of the tenant"
                    case (.read, true): "admin, viewer not bound to a tenant"
                    case (.read, false): "admin, tenant-admin or viewer of the tenant"
                    }
                return """
                    \(quoted(method)):{"summary":\(quoted(endpoint.summary)),"description":\(quoted("Roles: " + roles + ".")),\
                    "parameters":[\(parameters.joined(separator: ","))],"security":[{"bearer":[]}],\
                    "responses":{"200":{"description":"OK"},"401":{"description":"No admin credential"},\
                    "403":{"description":"Not allowed for this credential"},"404":{"description":"No such tenant or item"}}}
                    """
            }
            return quoted(path) + ":{" + operations.joined(separator: ",") + "}"
        }
        return """
            {"openapi":"3.1.0","info":{"title":"Switchyard admin API","version":"1"},\
            "components":{"securitySchemes":{"bearer":{"type":"http","scheme":"bearer"}}},\
            "paths":{\(items.joined(separator: ","))}}
            """
    }()
}
