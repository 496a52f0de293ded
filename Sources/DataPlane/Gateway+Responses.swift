import Hummingbird
import SwitchyardCore
import WireFormats

extension Gateway {
    /// `POST /v1/responses`: OpenAI Responses clients, served by any provider. Stateless:
    /// nothing is stored, so `previous_response_id` is refused with a 400.
    func responses(_ request: Request) async -> Response {
        await serve(
            request, endpoint: "responses", format: .openAIResponses,
            prepare: { request, context throws(OpenAIError) in
                let (principal, _, canonical) = try await receiveCanonical(request, context: &context) {
                    json throws(TranslationError) in try ResponsesFormat.decodeRequest(json)
                }
                return try await executeCanonical(
                    request, canonical: canonical, principal: principal, context: &context, passthroughKind: nil
                ) { _ in nil }
            },
            relay: { exchange, context, settlement in
                respondTranslated(exchange, includeUsage: true, context: context, settlement: settlement)
            })
    }
}
