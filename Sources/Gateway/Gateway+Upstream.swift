import Foundation
import Providers
import SwitchyardCore
import WireFormats

extension Gateway {
    struct UpstreamSuccess {
        var deployment: Deployment
        var response: UpstreamResponse
        var attempts: Int
    }

    /// Sends the request to the route's deployments in order until one answers with a 2xx.
    ///
    /// The next deployment is tried only for failures that say nothing about the request itself
    /// (unreachable, timeout, 5xx, 429); an upstream 4xx goes back to the client as it is.
    func sendWithFallback(
        route: Route, path: String, streaming: Bool, meter: inout RequestMeter, body: (Deployment) -> [UInt8]
    ) async -> Result<UpstreamSuccess, OpenAIError> {
        let candidates = planner.candidates(for: route)
        var lastError = OpenAIError.upstream(
            .noProvider, status: 502, message: "Route '\(route.name)' has no deployment whose provider is configured.")
        var attempts = 0
        for deployment in candidates {
            guard let adapter = adapters[deployment.provider] else { continue }
            attempts += 1
            meter.use(deployment)
            if adapter.hasMissingKey {
                lastError = .upstream(
                    .upstreamRejected, status: 502,
                    message:
                        "Provider '\(deployment.provider)' has no API key: set the environment variable \(adapter.provider.apiKeyEnv ?? "") for the gateway."
                )
                continue
            }
            let request = adapter.request(
                path: path, body: body(deployment), streaming: streaming, timeout: .seconds(deployment.timeoutSeconds))
            do {
                let response = try await transport.send(request)
                if (200..<300).contains(response.status) {
                    return .success(UpstreamSuccess(deployment: deployment, response: response, attempts: attempts))
                }
                let errorBody = (try? await response.body.collect(upTo: 64 * 1024)) ?? []
                lastError = upstreamStatusError(response.status, body: errorBody, deployment: deployment)
                logger.warning(
                    "upstream answered with an error",
                    metadata: [
                        "request_id": .string(meter.id), "deployment": .string(deployment.name),
                        "status": .stringConvertible(response.status),
                        "upstream_message": .string(String(decoding: errorBody.prefix(500), as: UTF8.self)),
                    ])
                let failure = UpstreamFailure(lastError.errorClass, lastError.message)
                if !failure.allowsFallback { break }
            } catch {
                lastError = .upstream(
                    error.errorClass, status: error.errorClass == .upstreamTimeout ? 504 : 502,
                    message: "Deployment '\(deployment.name)' (provider '\(deployment.provider)') failed: \(error.message)")
                logger.warning(
                    "upstream call failed",
                    metadata: [
                        "request_id": .string(meter.id), "deployment": .string(deployment.name),
                        "error": .string(error.description),
                    ])
                if !error.allowsFallback { break }
            }
        }
        return .failure(lastError)
    }

    /// The client-facing error for an upstream's non-2xx answer. OpenAI-shaped 4xx bodies are
    /// passed on as they are (the provider's wording is the most useful); anything else is wrapped.
    func upstreamStatusError(_ status: Int, body: [UInt8], deployment: Deployment) -> OpenAIError {
        let errorClass = OpenAICompatibleAdapter.errorClass(forStatus: status)
        var upstreamMessage = String(decoding: body.prefix(300), as: UTF8.self)
        if let editor = JSONObjectEditor(body), let errorObject = editor.value(of: "error"),
            let inner = JSONObjectEditor(Array(errorObject)), let message = inner.value(of: "message"),
            let text = try? decoder.decode(String.self, from: Data(message))
        {
            upstreamMessage = text
        }
        let where_ = "deployment '\(deployment.name)' (provider '\(deployment.provider)')"
        switch errorClass {
        case .rateLimited:
            return .upstream(.rateLimited, status: 429, message: "Rate limited by \(where_): \(upstreamMessage)")
        case .upstreamRejected:
            return OpenAIError(
                status: status, message: "Rejected by \(where_) with status \(status): \(upstreamMessage)",
                type: "invalid_request_error", code: "upstream_rejected", errorClass: .upstreamRejected)
        case .upstreamTimeout:
            return .upstream(.upstreamTimeout, status: 504, message: "Timed out at \(where_) (status \(status)).")
        default:
            return .upstream(
                .upstreamError, status: 502, message: "Upstream error from \(where_), status \(status): \(upstreamMessage)")
        }
    }
}
