import SwitchyardCore
import Telemetry

/// The attributes of an upstream attempt's CLIENT span, written when the span is exported.
struct AttemptSpanFacts: SpanFacts {
    let operation: String
    let model: String
    let deployment: String
    /// The configured provider's name (`switchyard.provider`).
    let provider: String
    /// Its kind and address, worked out at start (nil: a provider not in the configuration).
    let traced: TracedProvider?
    let number: Int
    let hedged: Bool
    let status: Int?
    let errorClass: ErrorClass?

    func write(to sink: inout SpanAttributeWriter) {
        sink.add(GenAIAttributes.operationName, operation)
        sink.add(GenAIAttributes.requestModel, model)
        sink.add(GenAIAttributes.deployment, deployment)
        sink.add(GenAIAttributes.providerName, traced?.kind ?? provider)
        sink.add(GenAIAttributes.provider, provider)
        sink.add(GenAIAttributes.attempt, Int64(number))
        if hedged { sink.add(GenAIAttributes.hedged, true) }
        if let traced, let host = traced.host {
            sink.add(GenAIAttributes.serverAddress, host)
            sink.add(GenAIAttributes.serverPort, Int64(traced.port))
        }
        if let status { sink.add(GenAIAttributes.httpStatus, Int64(status)) }
        // A cancelled attempt (its client left, or it lost a hedge) says nothing against the upstream.
        if errorClass == .clientCancelled {
            sink.add(GenAIAttributes.cancelled, true)
        } else if let errorClass {
            sink.add(GenAIAttributes.errorType, errorClass.rawValue)
        }
    }
}
