import Ingress
import WireFormats

extension OpenAIError {
    /// The body of a request the HTTP server refused before any handler saw it, in the error
    /// format the gateway's clients read.
    @Sendable static func body(of refusal: IngressRefusal) -> [UInt8] {
        OpenAIError(
            status: refusal.status, message: refusal.message, type: "invalid_request_error", code: refusal.code,
            errorClass: refusal.status == 413 ? .payloadTooLarge : .invalidRequest
        ).body()
    }
}
