// Ingress: the gateway's HTTP/1.1 server. It owns accepting connections (caps in total and per
// client address, the descriptor limit, a pause when descriptors run out), reading requests
// strictly (`IngressRequestParser`), framing responses (`IngressResponseFraming`), idle and
// request-read deadlines, and graceful shutdown. It hands each request to a Hummingbird
// `HTTPResponder` on the connection's event loop and knows no domain type: the body of a refusal
// is written by the caller (`IngressRefusal.BodyWriter`).
//
// May import: SwiftNIO, swift-http-types, Hummingbird's core types (Request, Response,
// HTTPResponder), swift-log, swift-service-lifecycle, and HTTPWire. Nothing of Switchyard's domain.

/// A request the server cannot read (malformed, ambiguous, too large), answered before any
/// handler sees it; the connection then closes.
public struct IngressRefusal: Error, Sendable, Equatable {
    public var status: Int
    /// A stable, machine-readable reason: `malformed_http_request`, `request_too_large`, ….
    public var code: String
    public var message: String

    /// Writes a refusal as a JSON response body in the clients' error format.
    public typealias BodyWriter = @Sendable (IngressRefusal) -> [UInt8]

    public init(status: Int, code: String, message: String) {
        self.status = status
        self.code = code
        self.message = message
    }

    static func payloadTooLarge(limit: Int) -> IngressRefusal {
        IngressRefusal(
            status: 413, code: "request_too_large",
            message: "Request body is larger than the gateway's limit of \(limit) bytes.")
    }
}
