import DataPlane
import Hummingbird
import Incidents
import Storage
import SwitchyardCore
import WireFormats

/// `GET /admin/v1/incidents[/{incident}]`, `POST /admin/v1/incidents/{incident}/undo` and
/// `POST /admin/v1/incidents/clock` (the manual clock's windows):
/// incidents as stored (every replica's), most recently opened first, and ending an open
/// incident's mitigation on this replica. Gateway-wide: an incident names any tenant it touches.
extension AdminAPI {
    func adminIncidents(_ request: Request, _ call: AdminCall) async -> Response {
        let parameters = request.uri.queryParameters
        let status = parameters["status"].map(String.init)
        guard status == nil || status == "open" || status == "resolved" else {
            return Self.adminError(.badRequest, "invalid_request_error", "'status' must be open or resolved.")
        }
        var limit = 50
        if let text = parameters["limit"].map(String.init) {
            guard let number = Int(text), (1...SQLStore.maximumIncidents).contains(number) else {
                return Self.adminError(
                    .badRequest, "invalid_request_error", "'limit' must be a number from 1 to \(SQLStore.maximumIncidents).")
            }
            limit = number
        }
        do {
            return Self.jsonArray(try await store.incidents(status: status, limit: limit).map(\.detail))
        } catch {
            return Self.storeUnavailable()
        }
    }

    func adminIncident(_ request: Request, _ call: AdminCall) async -> Response {
        do {
            guard let incident = try await store.incident(id: call.parameters["incident"] ?? "") else {
                return Self.adminError(.notFound, "not_found", "No such incident.")
            }
            return .json(status: .ok, Array(incident.detail.utf8))
        } catch {
            return Self.storeUnavailable()
        }
    }

    func adminUndoIncidentMitigation(_ request: Request, _ call: AdminCall) async -> Response {
        guard let incidents else {
            return Self.adminError(.conflict, "invalid_request_error", "Incident detection is off (incidents.enabled).")
        }
        guard let incident = await incidents.undoMitigation(of: call.parameters["incident"] ?? "", principal: call.auditName)
        else {
            return Self.adminError(.notFound, "not_found", "No open incident of that id on this replica.")
        }
        return .json(status: .ok, Array(incident.utf8))
    }

    /// `POST /admin/v1/incidents/clock` `{"advance_windows": N}`: with `incidents.clock: manual`,
    /// closes N windows of simulated time (each `window_seconds` later) and runs detection on each.
    func adminAdvanceIncidentClock(_ request: Request, _ call: AdminCall) async -> Response {
        guard let incidents else {
            return Self.adminError(.conflict, "invalid_request_error", "Incident detection is off (incidents.enabled).")
        }
        let bytes: [UInt8]
        do {
            bytes = try await gateway.readBody(request)
        } catch {
            return Self.adminError(.badRequest, "invalid_request_error", error.message)
        }
        guard let body = try? JSONValue.parse(bytes), let windows = body["advance_windows"]?.intValue,
            (1...1440).contains(windows)
        else {
            return Self.adminError(.badRequest, "invalid_request_error", #"Give {"advance_windows": N}, N from 1 to 1440."#)
        }
        guard let clock = await incidents.advance(windows: windows) else {
            return Self.adminError(
                .conflict, "invalid_request_error", "The incident clock is the wall's (incidents.clock: manual drives it).")
        }
        return .json(status: .ok, Array("{\"clock\":\(AuditValue.jsonString(clock.rfc3339Seconds))}".utf8))
    }
}
