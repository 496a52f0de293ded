import SwitchyardCore

/// Builds requests for providers that speak OpenAI's API (OpenAI, vLLM, llama.cpp, Ollama,
/// DeepSeek, GLM, …) and classifies their failures.
public struct OpenAICompatibleAdapter: Sendable {
    public let provider: Provider
    /// The provider's key, read from its environment variable once at start-up; never logged.
    private let apiKey: String?

    public init(provider: Provider, environment: [String: String]) {
        self.provider = provider
        self.apiKey = provider.apiKeyEnv.flatMap { environment[$0] }
    }

    public var hasMissingKey: Bool { provider.apiKeyEnv != nil && apiKey == nil }

    public func request(path: String, body: [UInt8], streaming: Bool, timeouts: Timeouts) -> UpstreamRequest {
        var headers = [("content-type", "application/json")]
        if streaming { headers.append(("accept", "text/event-stream")) }
        if let apiKey { headers.append(("authorization", "Bearer " + apiKey)) }
        return UpstreamRequest(
            url: provider.baseURL + path, headers: headers, body: body, timeouts: timeouts,
            maxConnections: provider.maxConnections)
    }

    /// A health probe: `GET base_url + path`.
    public func healthRequest(_ check: HealthCheck) -> UpstreamRequest {
        var headers: [(String, String)] = []
        if let apiKey { headers.append(("authorization", "Bearer " + apiKey)) }
        var request = UpstreamRequest(
            url: provider.baseURL + check.path, headers: headers, body: [],
            timeouts: Timeouts(connect: check.timeout, firstByte: check.timeout, idle: check.timeout, total: check.timeout),
            maxConnections: 2)
        request.isProbe = true
        return request
    }

    /// The common error class for an upstream's non-2xx status.
    public static func errorClass(forStatus status: Int) -> ErrorClass {
        switch status {
        case 429: .rateLimited
        case 408, 504: .upstreamTimeout
        case 400..<500: .upstreamRejected
        default: .upstreamError
        }
    }
}
