/// Why a request did not succeed, in terms common to every provider.
public enum ErrorClass: String, Sendable, Hashable, Codable, CaseIterable {
    case invalidRequest = "invalid_request"
    case authentication
    case permissionDenied = "permission_denied"
    case notFound = "not_found"
    case payloadTooLarge = "payload_too_large"
    case rateLimited = "rate_limited"
    /// The upstream refused or dropped the connection before answering.
    case upstreamUnavailable = "upstream_unavailable"
    case upstreamTimeout = "upstream_timeout"
    /// The upstream answered with a 5xx or a body that could not be understood.
    case upstreamError = "upstream_error"
    /// The upstream rejected the request (4xx other than 429).
    case upstreamRejected = "upstream_rejected"
    /// The upstream stream ended abnormally after the response had started.
    case streamInterrupted = "stream_interrupted"
    case clientCancelled = "client_cancelled"
    case noProvider = "no_provider"
    case internalError = "internal_error"
}
