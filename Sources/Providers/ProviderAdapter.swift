import SwitchyardCore
import WireFormats

/// Builds HTTP requests for one provider — its endpoints and authentication — and classifies
/// its failures into common error classes. Bodies are built by the wire formats.
public struct ProviderAdapter: Sendable {
    public let provider: Provider
    /// The provider's key, read from its environment variable once at start-up; never logged.
    private let apiKey: String?

    public init(provider: Provider, environment: [String: String]) {
        self.provider = provider
        self.apiKey = provider.apiKeyEnv.flatMap { environment[$0] }
    }

    public var hasMissingKey: Bool { provider.apiKeyEnv != nil && apiKey == nil }

    public func request(for call: UpstreamCall, streaming: Bool, timeouts: Timeouts) -> UpstreamRequest {
        var headers = [("content-type", "application/json")]
        if streaming { headers.append(("accept", "text/event-stream")) }
        headers += authenticationHeaders.filter { header in !call.headers.contains { $0.0 == header.0 } }
        headers += call.headers
        return UpstreamRequest(
            url: provider.baseURL + call.path, headers: headers, body: call.body, timeouts: timeouts,
            maxConnections: provider.maxConnections)
    }

    /// Each provider family authenticates its own way.
    var authenticationHeaders: [(String, String)] {
        switch provider.kind {
        case .openai: apiKey.map { [("authorization", "Bearer " + $0)] } ?? []
        case .anthropic: [("anthropic-version", AnthropicFormat.version)] + (apiKey.map { [("x-api-key", $0)] } ?? [])
        case .gemini: apiKey.map { [("x-goog-api-key", $0)] } ?? []
        }
    }

    /// A health probe: `GET base_url + path`.
    public func healthRequest(_ check: HealthCheck) -> UpstreamRequest {
        var request = UpstreamRequest(
            url: provider.baseURL + check.path, headers: authenticationHeaders, body: [],
            timeouts: Timeouts(connect: check.timeout, firstByte: check.timeout, idle: check.timeout, total: check.timeout),
            maxConnections: 2)
        request.isProbe = true
        return request
    }

    /// The common error class for an upstream's non-2xx answer. The body is read for the cases
    /// a status alone does not tell apart (a 400 for a too-long prompt, a safety refusal, or —
    /// on Gemini — an invalid API key).
    public static func errorClass(forStatus status: Int, body: [UInt8] = []) -> ErrorClass {
        switch status {
        case 429: return .rateLimited
        case 529, 503: return .upstreamOverloaded
        case 401, 403: return .upstreamAuthentication
        case 408, 504: return .upstreamTimeout
        case 400..<500:
            let text = String(decoding: body.prefix(4096), as: UTF8.self).lowercased()
            if [
                "context_length_exceeded", "prompt is too long", "maximum context length", "exceeds the maximum number of tokens",
            ]
            .contains(where: text.contains) {
                return .contextTooLong
            }
            // OpenAI's `content_filter`/`content_policy_violation`, Azure's `ResponsibleAIPolicyViolation`.
            // (Not a bare "safety": OpenAI's `safety_identifier` parameter errors would match it.)
            if ["content_filter", "content_policy", "responsibleaipolicyviolation"].contains(where: text.contains) {
                return .contentFiltered
            }
            if text.contains("api_key_invalid") || text.contains("api key not valid") { return .upstreamAuthentication }
            return .upstreamRejected
        default: return .upstreamError
        }
    }
}
