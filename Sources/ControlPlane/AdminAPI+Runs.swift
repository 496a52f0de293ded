import DataPlane
import HTTPTypes
import Hummingbird
import Storage
import SwitchyardCore

/// `GET /admin/v1/runs[/{run}]` and `GET /admin/v1/tenants/{tenant}/runs[/{run}]`: agent runs from
/// the ledger (every replica's requests), most recently active first. Query: `agent`,
/// `active_since` (a date or an RFC 3339 time), `limit` (1 to 1000, default 50); gateway-wide,
/// also `tenant`.
extension AdminAPI {
    func adminRuns(_ request: Request, _ call: AdminCall, tenant: String?) async -> Response {
        let parameters = request.uri.queryParameters
        var query = RunQuery(tenant: tenant ?? parameters["tenant"].map(String.init))
        query.agent = parameters["agent"].map(String.init)
        if let text = parameters["active_since"].map(String.init) {
            guard let time = UnixMicros(dateOrTimestamp: text) else {
                return Self.adminError(
                    .badRequest, "invalid_request_error",
                    "'active_since' must be a date (2026-11-01) or an RFC 3339 time, not '\(text)'.")
            }
            query.activeSince = time
        }
        if let text = parameters["limit"].map(String.init) {
            guard let limit = Int(text), (1...RunQuery.maximumLimit).contains(limit) else {
                return Self.adminError(
                    .badRequest, "invalid_request_error", "'limit' must be a number from 1 to \(RunQuery.maximumLimit).")
            }
            query.limit = limit
        }
        do {
            return .json(status: .ok, AgentRun.json(try await store.runs(query), withHours: false))
        } catch {
            return Self.adminError(.serviceUnavailable, "api_error", "The store could not list runs; try again.")
        }
    }

    func adminRun(_ request: Request, _ call: AdminCall, tenant: String?) async -> Response {
        let id = call.parameters["run"] ?? ""
        let scopedTenant = tenant ?? request.uri.queryParameters["tenant"].map(String.init)
        let runs: [AgentRun]
        do {
            runs = try await store.runs(id: id, tenant: scopedTenant)
        } catch {
            return Self.adminError(.serviceUnavailable, "api_error", "The store could not read the run; try again.")
        }
        guard let run = runs.first else { return Self.adminError(.notFound, "not_found", "No such run.") }
        guard runs.count == 1 else {
            let tenants = runs.map(\.tenant).joined(separator: ", ")
            return Self.adminError(
                .conflict, "invalid_request_error", "Runs named '\(id)' exist in several tenants (\(tenants)): add ?tenant=.")
        }
        return .json(status: .ok, run.json)
    }
}
