import DataPlane
import Foundation
import Hummingbird
import SwitchyardCore
import WireFormats

/// The tenant-scoped admin endpoints. Authorisation happened before any of these runs
/// (`authorizedAdmin`); each still reads only the tenant in its path.
extension AdminAPI {
    func adminListTenants(_ request: Request, _ call: AdminCall) -> Response {
        let visible = tenants.values.sorted { $0.name < $1.name }.filter {
            call.principal.tenant == nil || $0.name == call.principal.tenant
        }
        return Self.jsonArray(visible.map(Self.tenantObject))
    }

    func adminTenant(_ request: Request, _ call: AdminCall) -> Response {
        guard let tenant = self.tenant(named: call.tenant) else {
            return Self.adminError(.notFound, "not_found", "No such tenant.")
        }
        return .json(status: .ok, Array(Self.tenantObject(tenant).utf8))
    }

    func adminListKeys(_ request: Request, _ call: AdminCall) async -> Response {
        do {
            let now = UnixMicros.now()
            return Self.jsonArray(try await store.keys(tenant: call.tenant).map { Self.keyObject($0, now: now) })
        } catch {
            return Self.storeUnavailable()
        }
    }

    func adminCreateKey(_ request: Request, _ call: AdminCall) async -> Response {
        let bytes: [UInt8]
        do {
            bytes = try await gateway.readBody(request)
        } catch {
            return Self.adminError(.badRequest, "invalid_request_error", error.message)
        }
        let body: JSONValue
        if bytes.isEmpty {
            body = .object([:])
        } else if let parsed = try? JSONValue.parse(bytes), case .object = parsed {
            body = parsed
        } else {
            return Self.adminError(.badRequest, "invalid_request_error", "The body must be a JSON object.")
        }
        let project = body["project"]?.stringValue
        if let project, !(self.tenant(named: call.tenant)?.projects.contains(project) ?? false) {
            return Self.adminError(
                .badRequest, "invalid_request_error", "Tenant '\(call.tenant)' declares no project '\(project)'.")
        }
        var expiresAt: UnixMicros?
        if let text = body["expires_at"]?.stringValue {
            guard let time = UnixMicros(dateOrTimestamp: text), time > .now() else {
                return Self.adminError(
                    .badRequest, "invalid_request_error", "'expires_at' must be a future date or RFC 3339 time.")
            }
            expiresAt = time
        }
        let agent = body["agent"]?.stringValue
        if let agent, agent.isEmpty || agent.count > 128 {
            return Self.adminError(.badRequest, "invalid_request_error", "'agent' must be 1 to 128 characters.")
        }
        let (secret, record) = APIKeyFormat.issue(tenant: call.tenant, project: project, agent: agent, expiresAt: expiresAt)
        do {
            try await store.insertKey(record, auditedAs: call.auditName)
        } catch {
            return Self.storeUnavailable()
        }
        let object = AuditValue.object([
            ("id", record.id), ("key", secret), ("tenant", record.tenant), ("project", record.project), ("agent", record.agent),
            ("expires_at", record.expiresAt?.rfc3339Seconds),
        ])
        return .json(status: .created, Array(object.utf8))
    }

    func adminRevokeKey(_ request: Request, _ call: AdminCall) async -> Response {
        let id = call.parameters["key"] ?? ""
        do {
            // Another tenant's key is "not found" here, never revoked.
            guard let before = try await store.key(id: id), before.tenant == call.tenant else {
                return Self.adminError(.notFound, "not_found", "Tenant '\(call.tenant)' has no key '\(id)'.")
            }
            let after = try await store.revokeKey(id: id, auditedAs: call.auditName)?.after ?? before
            return .json(status: .ok, Array(Self.keyObject(after, now: .now()).utf8))
        } catch {
            return Self.storeUnavailable()
        }
    }

    /// The policies, limits and budgets in force on the tenant's scopes, in their declared form.
    func adminPolicies(_ request: Request, _ call: AdminCall) async -> Response {
        do {
            let (_, records) = try await store.governanceState()
            var lists: [GovernanceRecord.Kind: [String]] = [:]
            for record in records where record.kind != .tenant {
                guard try await owner(of: record) == call.tenant else { continue }
                lists[record.kind, default: []].append(record.declaration)
            }
            let body = [GovernanceRecord.Kind.policy, .limit, .budget].map { kind in
                AuditValue.jsonString(kind.section) + ":[" + (lists[kind] ?? []).joined(separator: ",") + "]"
            }
            return .json(status: .ok, Array(("{" + body.joined(separator: ",") + "}").utf8))
        } catch {
            return Self.storeUnavailable()
        }
    }

    func adminBudgets(_ request: Request, _ call: AdminCall) -> Response {
        let rows = governor.budgets.status().filter { $0.budget.scope.tenant == call.tenant }.map { status in
            AuditValue.object([
                ("name", status.budget.name), ("scope", status.budget.scope.description),
                ("period_start", status.period?.start.rfc3339Seconds), ("period_end", status.period?.end.rfc3339Seconds),
                ("limit", status.budget.limit.decimalString), ("spent", Money.format(nanos: status.spent)),
                ("reserved", Money.format(nanos: status.reserved)), ("currency", status.budget.limit.currency),
                ("alert_at", status.budget.alertThresholds.map { "\($0)" }.joined(separator: ",")),
            ])
        }
        return Self.jsonArray(rows)
    }

    func adminUsage(_ request: Request, _ call: AdminCall) async -> Response {
        let parameters = request.uri.queryParameters
        let now = UnixMicros.now()
        let since =
            parameters["since"].flatMap { UnixMicros(dateOrTimestamp: String($0)) } ?? CalendarPeriod.month(containing: now).start
        let until = parameters["until"].flatMap { UnixMicros(dateOrTimestamp: String($0)) } ?? UnixMicros(now.value + 1)
        do {
            let rollups = try await store.usageRollups(since: since, until: until, keeping: [.tenant, .agent])
            var byAgent: [String: (requests: Int64, input: Int, output: Int, nanos: Int64, currency: String)] = [:]
            for rollup in rollups where rollup.tenant == call.tenant {
                let key = (rollup.agent ?? "") + "\u{0}" + rollup.currency
                var sum = byAgent[key] ?? (0, 0, 0, 0, rollup.currency)
                sum.requests += rollup.requests
                sum.input += rollup.usage.inputTokens
                sum.output += rollup.usage.outputTokens
                sum.nanos += rollup.costNanos
                byAgent[key] = sum
            }
            let rows = byAgent.keys.sorted().map { key in
                let sum = byAgent[key]!
                let agent = String(key.split(separator: "\u{0}", omittingEmptySubsequences: false)[0])
                return AuditValue.object([
                    ("agent", agent.isEmpty ? nil : agent), ("requests", String(sum.requests)),
                    ("input_tokens", String(sum.input)), ("output_tokens", String(sum.output)),
                    ("cost", Money.format(nanos: sum.nanos)), ("currency", sum.currency),
                ])
            }
            return Self.jsonArray(rows)
        } catch {
            return Self.storeUnavailable()
        }
    }

    func adminAudit(_ request: Request, _ call: AdminCall) async -> Response {
        let parameters = request.uri.queryParameters
        let after = parameters["after"].flatMap { Int64(String($0)) } ?? 0
        let limit = min(max(parameters["limit"].flatMap { Int(String($0)) } ?? 1000, 1), 10_000)
        do {
            // Numbered and paged in the tenant's own sequence: the chain's would show, by its gaps,
            // how much other tenants did.
            let entries = try await store.tenantAuditEntries(call.tenant, after: after, limit: limit)
            return Self.jsonArray(entries.map(Self.auditObject))
        } catch {
            return Self.storeUnavailable()
        }
    }

    // MARK: JSON shapes

    static func tenantObject(_ tenant: Tenant) -> String {
        let projects = "[" + tenant.projects.map(AuditValue.jsonString).joined(separator: ",") + "]"
        let routes = tenant.allowedRoutes.map { "[" + $0.map(AuditValue.jsonString).joined(separator: ",") + "]" } ?? "null"
        return
            #"{"name":\#(AuditValue.jsonString(tenant.name)),"projects":\#(projects),"allowed_routes":\#(routes),"weight":\#(tenant.weight)}"#
    }

    static func keyObject(_ key: APIKeyRecord, now: UnixMicros) -> String {
        let state = key.revokedAt != nil ? "revoked" : (key.isUsable(at: now) ? "active" : "expired")
        return AuditValue.object([
            ("id", key.id), ("tenant", key.tenant), ("project", key.project), ("agent", key.agent), ("state", state),
            ("created_at", key.createdAt.rfc3339Seconds), ("expires_at", key.expiresAt?.rfc3339Seconds),
            ("revoked_at", key.revokedAt?.rfc3339Seconds),
        ])
    }

    /// An entry as its tenant sees it: numbered in the tenant's sequence, without the chain's hash
    /// (checking it needs the entries of every tenant).
    static func auditObject(_ entry: AuditEntry) -> String {
        AuditValue.object([
            ("sequence", entry.tenantSequence.map(String.init)), ("time", entry.time.rfc3339Seconds),
            ("principal", entry.principal), ("action", entry.action), ("target", entry.target), ("tenant", entry.tenant),
            ("before", entry.before), ("after", entry.after), ("detail", entry.detail),
        ])
    }

    static func jsonArray(_ objects: [String]) -> Response {
        .json(status: .ok, Array(("[" + objects.joined(separator: ",") + "]").utf8))
    }

    static func storeUnavailable() -> Response {
        adminError(.serviceUnavailable, "api_error", "The store could not answer; try again.")
    }
}
