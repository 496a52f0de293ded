import HTTPTypes
import Hummingbird

/// One endpoint of the admin API. The list below is the single source of truth: the router, the
/// OpenAPI document and the isolation tests are all generated from it, so an endpoint added here
/// is routed, documented and tested for cross-tenant access at once.
struct AdminEndpoint: Sendable {
    enum Access: Sendable {
        /// Reads: any admin credential that may see the tenant in the path.
        case read
        /// Changes: `admin`, or the `tenant-admin` of the tenant in the path.
        case write
        /// Changes to the rules a tenant is held to (the tenant itself, policies, limits, budgets):
        /// `admin` only, so a tenant-admin cannot loosen its own tenant's rules.
        case govern
    }

    let method: HTTPRequest.Method
    /// With `{parameter}` placeholders, e.g. `/admin/v1/tenants/{tenant}/keys`.
    let path: String
    let summary: String
    let access: Access
    /// Gateway-wide endpoints: only credentials not bound to a tenant may use them.
    let gatewayWide: Bool
    let handle: @Sendable (AdminAPI, Request, AdminCall) async -> Response
    /// Whether the path may name a tenant that does not exist yet (creating it).
    var createsTenant = false

    var tenantScoped: Bool { path.contains("{tenant}") }

    /// The path in Hummingbird's syntax (`:tenant`).
    var routerPath: String {
        path.replacingOccurrences(of: "{", with: ":").replacingOccurrences(of: "}", with: "")
    }

    var parameters: [String] {
        path.split(separator: "/").filter { $0.hasPrefix("{") }.map { String($0.dropFirst().dropLast()) }
    }
}

/// An authorised admin request: who calls, and the path's parameters.
struct AdminCall: Sendable {
    var principal: AdminPrincipal
    var parameters: [String: String]

    var tenant: String { parameters["tenant"] ?? "" }

    /// How the principal appears in audit entries.
    var auditName: String { principal.auditName }
}

extension AdminEndpoint {
    static let all: [AdminEndpoint] = [
        AdminEndpoint(
            method: .get, path: "/admin/v1/tenants", summary: "The tenants this credential may see.", access: .read,
            gatewayWide: false, handle: { $0.adminListTenants($1, $2) }),
        AdminEndpoint(
            method: .get, path: "/admin/v1/tenants/{tenant}", summary: "One tenant: projects, routes, residency.",
            access: .read, gatewayWide: false, handle: { $0.adminTenant($1, $2) }),
        AdminEndpoint(
            method: .put, path: "/admin/v1/tenants/{tenant}",
            summary: "Create or replace a tenant (body: allowed_routes, residency, allow_routing_hints, projects, weight).",
            access: .govern, gatewayWide: false, handle: { await $0.adminPutTenant($1, $2) }, createsTenant: true),
        AdminEndpoint(
            method: .delete, path: "/admin/v1/tenants/{tenant}",
            summary: "Remove a tenant that has no active keys and that no policy, limit or budget names.", access: .govern,
            gatewayWide: false, handle: { await $0.adminDeleteTenant($1, $2) }),
        AdminEndpoint(
            method: .put, path: "/admin/v1/tenants/{tenant}/projects/{project}", summary: "Add a project to the tenant.",
            access: .write, gatewayWide: false, handle: { await $0.adminPutProject($1, $2) }),
        AdminEndpoint(
            method: .delete, path: "/admin/v1/tenants/{tenant}/projects/{project}",
            summary: "Remove a project that has no active keys and that nothing names.", access: .write, gatewayWide: false,
            handle: { await $0.adminDeleteProject($1, $2) }),
        AdminEndpoint(
            method: .get, path: "/admin/v1/tenants/{tenant}/agents",
            summary: "The tenant's agents (from its keys): projects, keys, kill switch.", access: .read, gatewayWide: false,
            handle: { await $0.adminListAgents($1, $2) }),
        AdminEndpoint(
            method: .get, path: "/admin/v1/tenants/{tenant}/keys", summary: "The tenant's API keys (never their secrets).",
            access: .read, gatewayWide: false, handle: { await $0.adminListKeys($1, $2) }),
        AdminEndpoint(
            method: .post, path: "/admin/v1/tenants/{tenant}/keys",
            summary: "Issue an API key (body: project, agent, expires_at); the key is returned once.", access: .write,
            gatewayWide: false, handle: { await $0.adminCreateKey($1, $2) }),
        AdminEndpoint(
            method: .delete, path: "/admin/v1/tenants/{tenant}/keys/{key}", summary: "Revoke one of the tenant's keys.",
            access: .write, gatewayWide: false, handle: { await $0.adminRevokeKey($1, $2) }),
        AdminEndpoint(
            method: .get, path: "/admin/v1/tenants/{tenant}/policies",
            summary: "Policies, limits and budgets that apply to the tenant's scopes.", access: .read, gatewayWide: false,
            handle: { await $0.adminPolicies($1, $2) }),
        AdminEndpoint(
            method: .put, path: "/admin/v1/tenants/{tenant}/policies/{name}",
            summary: "Create or replace a policy on one of the tenant's scopes (body: the policy's fields as in the file).",
            access: .govern, gatewayWide: false, handle: { await $0.adminPutNamed(.policy, $1, $2) }),
        AdminEndpoint(
            method: .delete, path: "/admin/v1/tenants/{tenant}/policies/{name}", summary: "Remove a policy.",
            access: .govern, gatewayWide: false, handle: { await $0.adminDeleteNamed(.policy, $1, $2) }),
        AdminEndpoint(
            method: .put, path: "/admin/v1/tenants/{tenant}/limits",
            summary: "Create or replace the limits of one of the tenant's scopes (body: scope and limits as in the file).",
            access: .govern, gatewayWide: false, handle: { await $0.adminLimits($1, $2) }),
        AdminEndpoint(
            method: .delete, path: "/admin/v1/tenants/{tenant}/limits", summary: "Remove a scope's limits (query: scope).",
            access: .govern, gatewayWide: false, handle: { await $0.adminLimits($1, $2) }),
        AdminEndpoint(
            method: .put, path: "/admin/v1/tenants/{tenant}/budgets/{name}",
            summary: "Create or replace a budget on one of the tenant's scopes (body: the budget's fields as in the file).",
            access: .govern, gatewayWide: false, handle: { await $0.adminPutNamed(.budget, $1, $2) }),
        AdminEndpoint(
            method: .delete, path: "/admin/v1/tenants/{tenant}/budgets/{name}", summary: "Remove a budget.",
            access: .govern, gatewayWide: false, handle: { await $0.adminDeleteNamed(.budget, $1, $2) }),
        AdminEndpoint(
            method: .get, path: "/admin/v1/tenants/{tenant}/budgets",
            summary: "The tenant's budgets this period: limit, spent, reserved.", access: .read, gatewayWide: false,
            handle: { $0.adminBudgets($1, $2) }),
        AdminEndpoint(
            method: .get, path: "/admin/v1/tenants/{tenant}/usage",
            summary: "The tenant's requests, tokens and cost by agent (query: since, until).", access: .read,
            gatewayWide: false, handle: { await $0.adminUsage($1, $2) }),
        AdminEndpoint(
            method: .get, path: "/admin/v1/tenants/{tenant}/audit",
            summary: "The tenant's audit entries, numbered in its own sequence (query: after, limit).", access: .read,
            gatewayWide: false,
            handle: { await $0.adminAudit($1, $2) }),
        AdminEndpoint(
            method: .get, path: "/admin/v1/tenants/{tenant}/kill-switches",
            summary: "Kill switches engaged on the tenant or its projects, agents and keys.", access: .read,
            gatewayWide: false, handle: { await $0.adminTenantKillSwitches($1, $2) }),
        AdminEndpoint(
            method: .post, path: "/admin/v1/tenants/{tenant}/kill-switches",
            summary: "Stop the tenant, one of its projects, agents, keys or runs (body: scope, reason).", access: .write,
            gatewayWide: false, handle: { await $0.adminTenantKillSwitches($1, $2) }),
        AdminEndpoint(
            method: .delete, path: "/admin/v1/tenants/{tenant}/kill-switches",
            summary: "Release a kill switch (query: scope).", access: .write, gatewayWide: false,
            handle: { await $0.adminTenantKillSwitches($1, $2) }),
        AdminEndpoint(
            method: .get, path: "/admin/v1/tenants/{tenant}/runs",
            summary: "The tenant's agent runs, most recently active first (query: agent, active_since, limit).",
            access: .read, gatewayWide: false, handle: { await $0.adminRuns($1, $2, tenant: $2.tenant) }),
        AdminEndpoint(
            method: .get, path: "/admin/v1/tenants/{tenant}/runs/{run}",
            summary: "One of the tenant's runs: totals, models, cost per hour, loops, kill switch.", access: .read,
            gatewayWide: false, handle: { await $0.adminRun($1, $2, tenant: $2.tenant) }),
        AdminEndpoint(
            method: .get, path: "/admin/v1/runs",
            summary: "Agent runs of every tenant, most recently active first (query: tenant, agent, active_since, limit).",
            access: .read, gatewayWide: true, handle: { await $0.adminRuns($1, $2, tenant: nil) }),
        AdminEndpoint(
            method: .get, path: "/admin/v1/runs/{run}",
            summary: "One run: totals, models, cost per hour, loops, kill switch (query: tenant, when the id is in several).",
            access: .read, gatewayWide: true, handle: { await $0.adminRun($1, $2, tenant: nil) }),
        AdminEndpoint(
            method: .get, path: "/admin/v1/incidents",
            summary: "Incidents, most recently opened first (query: status open|resolved, limit).", access: .read,
            gatewayWide: true, handle: { await $0.adminIncidents($1, $2) }),
        AdminEndpoint(
            method: .get, path: "/admin/v1/incidents/{incident}",
            summary: "One incident: signals, where, probable cause, scope, cost, mitigations.", access: .read,
            gatewayWide: true, handle: { await $0.adminIncident($1, $2) }),
        AdminEndpoint(
            method: .post, path: "/admin/v1/incidents/{incident}/undo",
            summary: "End an open incident's mitigation on this replica (readmit what it ejected; audited).",
            access: .write, gatewayWide: true, handle: { await $0.adminUndoIncidentMitigation($1, $2) }),
        AdminEndpoint(
            method: .post, path: "/admin/v1/incidents/clock",
            summary: "With incidents.clock: manual, close N windows of simulated time (body: advance_windows).",
            access: .write, gatewayWide: true, handle: { await $0.adminAdvanceIncidentClock($1, $2) }),
        AdminEndpoint(
            method: .get, path: "/admin/v1/probes/scorecard",
            summary: "Per provider and model: canary quality and recall curve, p95 latency, errors, cost, availability.",
            access: .read, gatewayWide: true, handle: { await $0.adminProbeScorecard($1, $2) }),
        AdminEndpoint(
            method: .get, path: "/admin/v1/kill-switches", summary: "Every engaged kill switch.", access: .read,
            gatewayWide: true, handle: { await $0.adminKillSwitches($1, $2) }),
        AdminEndpoint(
            method: .post, path: "/admin/v1/kill-switches", summary: "Engage a kill switch on any scope.", access: .write,
            gatewayWide: true, handle: { await $0.adminKillSwitches($1, $2) }),
        AdminEndpoint(
            method: .delete, path: "/admin/v1/kill-switches", summary: "Release a kill switch (query: scope).",
            access: .write, gatewayWide: true, handle: { await $0.adminKillSwitches($1, $2) }),
        AdminEndpoint(
            method: .get, path: "/admin/v1/tenants/{tenant}/reports/{kind}",
            summary: "The tenant's cost or unit report (query: by, bucket, since, until, format); no capacity allocated.",
            access: .read, gatewayWide: false,
            handle: { await $0.adminReport($1, kind: $2.parameters["kind"] ?? "", tenant: $2.tenant) }),
        AdminEndpoint(
            method: .get, path: "/admin/v1/reports/{kind}",
            summary: "FinOps reports: cost, unit, commitments, concentration (query: by, bucket, since, until, format).",
            access: .read, gatewayWide: true, handle: { await $0.adminReport($1, kind: $2.parameters["kind"] ?? "") }),
    ]
}
