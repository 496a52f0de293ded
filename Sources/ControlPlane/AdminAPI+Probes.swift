import Hummingbird

/// `GET /admin/v1/probes/scorecard`: quality, latency, errors, cost and availability per provider
/// and model. Gateway-wide: it names every deployment.
extension AdminAPI {
    func adminProbeScorecard(_ request: Request, _ call: AdminCall) async -> Response {
        do {
            let rows = try await ProbeScorecard.rows(configuration: configuration, store: store)
            return .json(status: .ok, Array(ProbeScorecard.json(rows).utf8))
        } catch {
            return Self.storeUnavailable()
        }
    }
}
