import Foundation
import Governance
import HTTPTypes
import Hummingbird
import SwitchyardCore
import WireFormats

/// `GET|POST|DELETE /admin/v1/kill-switches`: stop an agent, key, project or tenant at once —
/// new requests are refused and streams in progress end at their next chunk — and resume it.
/// Engaging here takes effect on this replica immediately and on the others within a second.
extension Gateway {
    func adminKillSwitches(_ request: Request) async -> Response {
        guard isAdmin(request) else {
            return Self.adminError(.unauthorized, "authentication_error", "This endpoint needs the admin key as a Bearer token.")
        }
        switch request.method {
        case .get:
            return Self.killSwitchList(governor.kills.engaged)
        case .post:
            return await engageKillSwitch(request)
        case .delete:
            guard let text = request.uri.queryParameters["scope"].map(String.init) else {
                return Self.adminError(.badRequest, "invalid_request_error", "Give the scope to release: ?scope=agent:acme/bot.")
            }
            switch validatedScope(text) {
            case .failure(let error): return Self.adminError(.badRequest, "invalid_request_error", error.message)
            case .success(let scope):
                do {
                    let released = try await store.releaseKillSwitch(scope, principal: "admin")
                    governor.kills.release(scope)
                    guard released != nil else {
                        return Self.adminError(.notFound, "not_found", "No kill switch is engaged on \(scope).")
                    }
                    return Self.killSwitchList(governor.kills.engaged)
                } catch {
                    return Self.adminError(.serviceUnavailable, "api_error", "The store could not release it; try again.")
                }
            }
        default:
            return Self.adminError(.methodNotAllowed, "invalid_request_error", "Use GET, POST or DELETE.")
        }
    }

    private func engageKillSwitch(_ request: Request) async -> Response {
        let body: JSONValue
        switch await readBody(request) {
        case .failure(let error): return Self.adminError(.badRequest, "invalid_request_error", error.message)
        case .success(let bytes):
            guard let parsed = try? JSONValue.parse(bytes) else {
                return Self.adminError(.badRequest, "invalid_request_error", "The body must be a JSON object.")
            }
            body = parsed
        }
        guard let text = body["scope"]?.stringValue else {
            return Self.adminError(
                .badRequest, "invalid_request_error", #"Give {"scope": "agent:acme/bot", "reason": "why"}."#)
        }
        guard let reason = body["reason"]?.stringValue, !reason.isEmpty, reason.count <= 500 else {
            return Self.adminError(.badRequest, "invalid_request_error", "Give a reason (up to 500 characters): it is audited.")
        }
        switch validatedScope(text) {
        case .failure(let error): return Self.adminError(.badRequest, "invalid_request_error", error.message)
        case .success(let scope):
            let kill = KillSwitch(scope: scope, reason: reason, engagedBy: "admin")
            governor.kills.engage(kill)
            do {
                try await store.engageKillSwitch(kill, principal: "admin")
            } catch {
                // Engaged here; the other replicas learn it when the store answers and it is retried.
                logger.error("kill switch engaged in memory only: store write failed", metadata: ["error": "\(error)"])
                return Self.adminError(
                    .serviceUnavailable, "api_error", "Engaged on this replica only: the store could not record it; retry.")
            }
            var response = Self.killSwitchList(governor.kills.engaged)
            response.status = .created
            return response
        }
    }

    /// A scope in text form whose tenant (if it names one) is configured.
    func validatedScope(_ text: String) -> Result<GovernanceScope, AdminInputError> {
        guard let scope = GovernanceScope(text) else {
            return .failure(
                AdminInputError(
                    message: "'\(text)' is not a scope: use tenant:NAME, project:TENANT/NAME, agent:TENANT/NAME or key:ID."))
        }
        if let tenant = scope.tenant, tenants[tenant] == nil {
            return .failure(AdminInputError(message: "No tenant named '\(tenant)' is configured."))
        }
        return .success(scope)
    }

    static func killSwitchList(_ kills: [KillSwitch]) -> Response {
        let objects = kills.map { kill in
            AuditValue.object([
                ("scope", kill.scope.description), ("reason", kill.reason), ("engaged_by", kill.engagedBy),
                ("engaged_at", kill.engagedAt.rfc3339Seconds),
            ])
        }
        return Response.json(status: .ok, Array(("[" + objects.joined(separator: ",") + "]").utf8))
    }
}
