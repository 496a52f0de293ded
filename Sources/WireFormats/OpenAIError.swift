import SwitchyardCore

/// An error in OpenAI's shape: `{"error": {"message", "type", "param", "code"}}`.
public struct OpenAIError: Error, Sendable, Equatable {
    public var status: Int
    public var message: String
    public var type: String
    public var code: String?
    public var param: String?
    public var errorClass: ErrorClass
    /// Sent as `Retry-After` when set.
    public var retryAfterSeconds: Int?

    public init(
        status: Int, message: String, type: String, code: String?, param: String? = nil, errorClass: ErrorClass,
        retryAfterSeconds: Int? = nil
    ) {
        self.status = status
        self.message = message
        self.type = type
        self.code = code
        self.param = param
        self.errorClass = errorClass
        self.retryAfterSeconds = retryAfterSeconds
    }

    public func body() -> [UInt8] {
        var bytes = Array(#"{"error":{"message":"#.utf8) + JSONText.string(message)
        bytes += Array(#","type":"#.utf8) + JSONText.string(type)
        bytes += Array(#","param":"#.utf8) + (param.map(JSONText.string) ?? Array("null".utf8))
        bytes += Array(#","code":"#.utf8) + (code.map(JSONText.string) ?? Array("null".utf8))
        bytes += Array("}}".utf8)
        return bytes
    }

    public static func invalidRequest(_ message: String, param: String? = nil, code: String? = nil) -> OpenAIError {
        OpenAIError(
            status: 400, message: message, type: "invalid_request_error", code: code, param: param, errorClass: .invalidRequest)
    }

    public static func invalidAPIKey(_ message: String) -> OpenAIError {
        OpenAIError(
            status: 401, message: message, type: "invalid_request_error", code: "invalid_api_key", errorClass: .authentication)
    }

    public static func modelNotAllowed(_ model: String, tenant: String) -> OpenAIError {
        OpenAIError(
            status: 403,
            message:
                "Tenant '\(tenant)' may not use model '\(model)'. Ask your Switchyard admin to add it to the tenant's allowed_routes.",
            type: "permission_error", code: "model_not_allowed", param: "model", errorClass: .permissionDenied)
    }

    public static func modelNotFound(_ model: String, available: [String]) -> OpenAIError {
        let list = available.isEmpty ? "none are configured" : "available: " + available.joined(separator: ", ")
        return OpenAIError(
            status: 404, message: "The model '\(model)' does not exist on this gateway (\(list)).",
            type: "invalid_request_error", code: "model_not_found", param: "model", errorClass: .notFound)
    }

    public static func payloadTooLarge(limit: Int) -> OpenAIError {
        OpenAIError(
            status: 413, message: "Request body is larger than the gateway's limit of \(limit) bytes.",
            type: "invalid_request_error", code: "request_too_large", errorClass: .payloadTooLarge)
    }

    public static func upstream(_ errorClass: ErrorClass, status: Int, message: String) -> OpenAIError {
        OpenAIError(status: status, message: message, type: "api_error", code: errorClass.rawValue, errorClass: errorClass)
    }
}
