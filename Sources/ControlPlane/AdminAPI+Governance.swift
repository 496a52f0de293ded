import DataPlane
import Foundation
import HTTPTypes
import Hummingbird
import SwitchyardConfig
import SwitchyardCore
import WireFormats

/// Admin API writes to live governance state: tenants and their projects, policies, limits and
/// budgets. Each write is checked exactly as the configuration file would be (same fields, same
/// errors), stored with its audit entry in one transaction, and in force on this replica when the
/// response is sent (other replicas within a second).
extension AdminAPI {
    func adminPutTenant(_ request: Request, _ call: AdminCall) async -> Response {
        switch await declarationBody(request, naming: "name", call.tenant) {
        case .failure(let refusal): return refusal.response
        case .success(let body): return await changeGovernance(call, .tenant, call.tenant, to: body)
        }
    }

    func adminDeleteTenant(_ request: Request, _ call: AdminCall) async -> Response {
        if let refusal = await activeKeysRefusal(call.tenant, project: nil) { return refusal }
        return await changeGovernance(call, .tenant, call.tenant, to: nil)
    }

    func adminPutProject(_ request: Request, _ call: AdminCall) async -> Response {
        let project = call.parameters["project"] ?? ""
        guard Self.isProjectName(project) else {
            return Self.adminError(
                .badRequest, "invalid_request_error",
                "'\(project)' is not a project name: letters, digits and - _ . @ only, at most 128 characters.")
        }
        guard var tenant = self.tenant(named: call.tenant) else {
            return Self.adminError(.notFound, "not_found", "No such tenant.")
        }
        guard !tenant.projects.contains(project) else { return Self.governanceObject(tenant, status: .ok) }
        tenant.projects.append(project)
        return await changeGovernance(call, .tenant, call.tenant, to: Self.declaration(of: tenant))
    }

    func adminDeleteProject(_ request: Request, _ call: AdminCall) async -> Response {
        let project = call.parameters["project"] ?? ""
        guard var tenant = self.tenant(named: call.tenant), tenant.projects.contains(project) else {
            return Self.adminError(.notFound, "not_found", "Tenant '\(call.tenant)' has no project '\(project)'.")
        }
        if let refusal = await activeKeysRefusal(call.tenant, project: project) { return refusal }
        tenant.projects.removeAll { $0 == project }
        return await changeGovernance(call, .tenant, call.tenant, to: Self.declaration(of: tenant))
    }

    /// A policy or budget, named by the path.
    func adminPutNamed(_ kind: GovernanceRecord.Kind, _ request: Request, _ call: AdminCall) async -> Response {
        let name = call.parameters["name"] ?? ""
        switch await declarationBody(request, naming: "name", name) {
        case .failure(let refusal): return refusal.response
        case .success(let body): return await changeGovernance(call, kind, name, to: body)
        }
    }

    func adminDeleteNamed(_ kind: GovernanceRecord.Kind, _ request: Request, _ call: AdminCall) async -> Response {
        await changeGovernance(call, kind, call.parameters["name"] ?? "", to: nil)
    }

    /// A limit is named by its scope, which the body (PUT) or the `scope` query (DELETE) gives.
    func adminLimits(_ request: Request, _ call: AdminCall) async -> Response {
        if request.method == .delete {
            guard let scope = request.uri.queryParameters["scope"].map(String.init), !scope.isEmpty else {
                return Self.adminError(.badRequest, "invalid_request_error", "Give the limit's scope: ?scope=agent:TENANT/NAME.")
            }
            return await changeGovernance(call, .limit, scope, to: nil)
        }
        switch await declarationBody(request, naming: nil, String?.none) {
        case .failure(let refusal): return refusal.response
        case .success(let body):
            guard let scope = (try? JSONValue.parse(Array(body.utf8)))?["scope"]?.stringValue else {
                return Self.adminError(.badRequest, "invalid_request_error", "'scope' is required.")
            }
            return await changeGovernance(call, .limit, scope, to: body)
        }
    }

    func adminListAgents(_ request: Request, _ call: AdminCall) async -> Response {
        do {
            let now = UnixMicros.now()
            var agents: [String: (projects: Set<String>, active: Int, total: Int)] = [:]
            for key in try await store.keys(tenant: call.tenant) {
                guard let agent = key.agent else { continue }
                var entry = agents[agent] ?? ([], 0, 0)
                if let project = key.project { entry.projects.insert(project) }
                entry.total += 1
                if key.isUsable(at: now) { entry.active += 1 }
                agents[agent] = entry
            }
            let kills = governor.kills
            return Self.jsonArray(
                agents.keys.sorted().map { name in
                    let entry = agents[name]!
                    let stopped = kills.stoppingScope(.agent(tenant: call.tenant, agent: name)) != nil
                    return
                        #"{"agent":\#(AuditValue.jsonString(name)),"projects":\#(GovernanceDeclaration.list(entry.projects)),"active_keys":\#(entry.active),"keys":\#(entry.total),"kill_switch_engaged":\#(stopped)}"#
                })
        } catch {
            return Self.storeUnavailable()
        }
    }

    // MARK: The one write path

    /// Replaces (or, with nil, removes) one object of live state and puts the result in force.
    /// The whole state must read back valid: a field the object gets wrong is a 400 naming it;
    /// a change that breaks another object (a tenant its policies still name) is a 409.
    func changeGovernance(
        _ call: AdminCall, _ kind: GovernanceRecord.Kind, _ name: String, to declaration: String?
    ) async -> Response {
        do {
            let (revision, records) = try await store.governanceState()
            let existing = records.first { $0.kind == kind && $0.name == name }
            if let existing, kind != .tenant, try await owner(of: existing) != call.tenant {
                // Another tenant's object is not found under this tenant's path, never changed.
                return Self.adminError(.notFound, "not_found", "Tenant '\(call.tenant)' has no \(kind.rawValue) '\(name)'.")
            }
            if declaration == nil && existing == nil {
                return Self.adminError(.notFound, "not_found", "Tenant '\(call.tenant)' has no \(kind.rawValue) '\(name)'.")
            }
            var updated = records.filter { !($0.kind == kind && $0.name == name) }
            if let declaration { updated.append(GovernanceRecord(kind: kind, name: name, declaration: declaration)) }
            let checked: GovernanceDeclaration
            do {
                checked = try gateway.liveDeclaration(updated)
            } catch let error as ConfigurationError {
                let own = error.path.hasPrefix("\(kind.section)[\(name)]")
                return Self.adminError(
                    own ? .badRequest : .conflict, "invalid_request_error",
                    own ? "\(error.path): \(error.reason)" : "This change would break \(error.path): \(error.reason)")
            }
            let canonical = checked.records
            let written = canonical.first { $0.kind == kind && $0.name == name }
            if let written, kind != .tenant, try await owner(of: written) != call.tenant {
                return Self.adminError(
                    .badRequest, "invalid_request_error",
                    "The scope must be tenant '\(call.tenant)', one of its projects, agents or keys.")
            }
            let plan = GovernancePlan(live: records, desired: canonical)
            if !plan.isEmpty {
                try await store.writeGovernance(
                    plan.writes, audit: plan.changes.map { $0.auditEntry(by: call.auditName) }, by: call.auditName,
                    expectedRevision: revision)
                try await gateway.syncLiveGovernance()
            }
            let body = written?.declaration ?? existing?.declaration ?? "{}"
            return .json(status: existing == nil ? .created : .ok, Array(body.utf8))
        } catch let conflict as GovernanceConflict {
            return Self.adminError(.conflict, "conflict", "Nothing changed: \(conflict).")
        } catch {
            return Self.storeUnavailable()
        }
    }

    /// The tenant an object belongs to: its own name, or its scope's tenant (a key's owner).
    func owner(of record: GovernanceRecord) async throws -> String? {
        if record.kind == .tenant { return record.name }
        guard let scope = GovernancePlan.scope(of: record.declaration) else { return nil }
        if case .key(let id) = scope { return try await store.key(id: id)?.tenant }
        return scope.tenant
    }

    /// The body as a JSON object, with `key` set to `value` from the path (a differing value is an error).
    func declarationBody(_ request: Request, naming key: String?, _ value: String?) async -> Result<String, AdminRefusal> {
        let bytes: [UInt8]
        do {
            bytes = try await gateway.readBody(request)
        } catch {
            return .failure(AdminRefusal(Self.adminError(.badRequest, "invalid_request_error", error.message)))
        }
        guard case .object(var object)? = try? JSONValue.parse(bytes) else {
            return .failure(
                AdminRefusal(Self.adminError(.badRequest, "invalid_request_error", "The body must be a JSON object.")))
        }
        if let key, let value {
            if let given = object[key], given != .string(value) {
                return .failure(
                    AdminRefusal(
                        Self.adminError(
                            .badRequest, "invalid_request_error", "'\(key)' in the body differs from the path ('\(value)').")))
            }
            object[key] = .string(value)
        }
        return .success(String(decoding: JSONValue.object(object).serialized(), as: UTF8.self))
    }

    func activeKeysRefusal(_ tenant: String, project: String?) async -> Response? {
        guard let keys = try? await store.keys(tenant: tenant) else { return Self.storeUnavailable() }
        let now = UnixMicros.now()
        let active = keys.filter { $0.isUsable(at: now) && (project == nil || $0.project == project) }
        guard !active.isEmpty else { return nil }
        return Self.adminError(
            .conflict, "conflict",
            "\(project.map { "Project '\($0)'" } ?? "Tenant '\(tenant)'") still has \(active.count) active key(s): revoke them first."
        )
    }

    static func isProjectName(_ name: String) -> Bool {
        !name.isEmpty && name.count <= 128
            && name.unicodeScalars.allSatisfy { CharacterSet.alphanumerics.contains($0) || "-_.@".unicodeScalars.contains($0) }
    }

    static func declaration(of tenant: Tenant) -> String {
        GovernanceDeclaration(tenants: [tenant]).records[0].declaration
    }

    static func governanceObject(_ tenant: Tenant, status: HTTPResponse.Status) -> Response {
        .json(status: status, Array(declaration(of: tenant).utf8))
    }
}

/// An admin request answered early, with this response.
struct AdminRefusal: Error {
    var response: Response
    init(_ response: Response) { self.response = response }
}
