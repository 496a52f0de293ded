import DataPlane
import Foundation
import Governance
import HTTPTypes
import Hummingbird
import SwitchyardCore
import WireFormats

/// `GET|POST|DELETE /admin/v1/kill-switches`: stop an agent, key, project or tenant at once —
/// new requests are refused and streams in progress end at their next chunk — and resume it.
/// Engaging here takes effect on this replica immediately and on the others within a second.
extension AdminAPI {
    /// Gateway-wide: any scope. The tenant-scoped variant only takes scopes of its tenant.
    func adminKillSwitches(_ request: Request, _ call: AdminCall) async -> Response {
        await killSwitches(request, call, tenant: nil)
    }

    func adminTenantKillSwitches(_ request: Request, _ call: AdminCall) async -> Response {
        await killSwitches(request, call, tenant: call.tenant)
    }

    private func killSwitches(_ request: Request, _ call: AdminCall, tenant: String?) async -> Response {
        switch request.method {
        case .get:
            var kills = governor.kills.engaged
            if let tenant {
                var visible: [KillSwitch] = []
                for kill in kills where await belongs(kill.scope, to: tenant) { visible.append(kill) }
                kills = visible
            }
            return Self.killSwitchList(kills)
        case .post:
            return await engageKillSwitch(request, call, tenant: tenant)
        case .delete:
            guard let text = request.uri.queryParameters["scope"].map(String.init) else {
                return Self.adminError(.badRequest, "invalid_request_error", "Give the scope to release: ?scope=agent:acme/bot.")
            }
            let scope: GovernanceScope
            switch await validatedScope(
                text, within: tenant,
                otherwise: Self.adminError(.notFound, "not_found", "No kill switch is engaged on that scope in this tenant."))
            {
            case .failure(let refusal): return refusal.response
            case .success(let valid): scope = valid
            }
            do {
                let released = try await store.releaseKillSwitch(
                    scope, principal: call.auditName, authority: call.principal.killSwitchAuthority)
                governor.kills.release(scope)
                guard released != nil else {
                    return Self.adminError(.notFound, "not_found", "No kill switch is engaged on \(scope).")
                }
                return .json(status: .ok, Array(AuditValue.object([("released", scope.description)]).utf8))
            } catch let refused as KillSwitch.ReleaseRefused {
                // Still engaged, here and in the store; the attempt is audited.
                return Self.adminError(.forbidden, "permission_error", refused.message)
            } catch {
                return Self.adminError(.serviceUnavailable, "api_error", "The store could not release it; try again.")
            }
        default:
            return Self.adminError(.methodNotAllowed, "invalid_request_error", "Use GET, POST or DELETE.")
        }
    }

    private func engageKillSwitch(_ request: Request, _ call: AdminCall, tenant: String?) async -> Response {
        let bytes: [UInt8]
        do {
            bytes = try await gateway.readBody(request)
        } catch {
            return Self.adminError(.badRequest, "invalid_request_error", error.message)
        }
        guard let body = try? JSONValue.parse(bytes) else {
            return Self.adminError(.badRequest, "invalid_request_error", "The body must be a JSON object.")
        }
        guard let text = body["scope"]?.stringValue else {
            return Self.adminError(
                .badRequest, "invalid_request_error", #"Give {"scope": "agent:acme/bot", "reason": "why"}."#)
        }
        guard let reason = body["reason"]?.stringValue, !reason.isEmpty, reason.count <= 500 else {
            return Self.adminError(.badRequest, "invalid_request_error", "Give a reason (up to 500 characters): it is audited.")
        }
        switch await validatedScope(
            text, within: tenant,
            otherwise: Self.adminError(
                .badRequest, "invalid_request_error", "The scope must be this tenant, one of its projects, agents, keys or runs.")
        )
        {
        case .failure(let refusal): return refusal.response
        case .success(let scope):
            let kill = KillSwitch(
                scope: scope, reason: reason, engagedBy: call.auditName, authority: call.principal.killSwitchAuthority)
            governor.kills.engage(kill)
            do {
                try await store.engageKillSwitch(kill, principal: call.auditName)
            } catch {
                // Engaged here; the other replicas learn it when the store answers and it is retried.
                logger.error("kill switch engaged in memory only: store write failed", metadata: ["error": "\(error)"])
                return Self.adminError(
                    .serviceUnavailable, "api_error", "Engaged on this replica only: the store could not record it; retry.")
            }
            var response = Self.killSwitchList([governor.kills.stoppingScope(scope) ?? kill])
            response.status = .created
            return response
        }
    }

    /// Whether `scope` is the tenant's: it names the tenant, or it is a key of the tenant.
    func belongs(_ scope: GovernanceScope, to tenant: String) async -> Bool {
        if let owner = scope.tenant { return owner == tenant }
        guard case .key(let id) = scope else { return false }
        return (try? await store.key(id: id))?.tenant == tenant
    }

    /// A scope in text form that the caller may name. Under a tenant's path it must be of that
    /// tenant: another tenant's scope and a scope of a tenant that does not exist both get
    /// `otherwise`, so the answer never tells whether another tenant exists. Gateway-wide, its
    /// tenant (if it names one) must be configured.
    func validatedScope(
        _ text: String, within tenant: String?, otherwise: Response
    ) async -> Result<GovernanceScope, AdminRefusal> {
        guard let scope = GovernanceScope(text) else {
            return .failure(
                AdminRefusal(
                    Self.adminError(
                        .badRequest, "invalid_request_error",
                        "'\(text)' is not a scope: use tenant:NAME, project:TENANT/NAME, agent:TENANT/NAME, key:ID or run:TENANT/ID."
                    )))
        }
        if let tenant {
            return await belongs(scope, to: tenant) ? .success(scope) : .failure(AdminRefusal(otherwise))
        }
        if let named = scope.tenant, self.tenant(named: named) == nil {
            return .failure(
                AdminRefusal(Self.adminError(.badRequest, "invalid_request_error", "No tenant named '\(named)' is configured.")))
        }
        return .success(scope)
    }

    static func killSwitchList(_ kills: [KillSwitch]) -> Response {
        let objects = kills.map { kill in
            AuditValue.object([
                ("scope", kill.scope.description), ("reason", kill.reason), ("engaged_by", kill.engagedBy),
                ("authority", kill.authority.rawValue), ("engaged_at", kill.engagedAt.rfc3339Seconds),
            ])
        }
        return Response.json(status: .ok, Array(("[" + objects.joined(separator: ",") + "]").utf8))
    }
}
