import Hummingbird
import SwitchyardCore
import WireFormats

extension Gateway {
    /// `POST /v1/responses`: OpenAI Responses clients, served by any provider. Stateless:
    /// nothing is stored, so `previous_response_id` is refused with a 400.
    func responses(_ request: Request) async -> Response {
        var meter = RequestMeter(endpoint: "responses")
        meter.format = .openAIResponses
        let principal: Principal
        let canonical: CanonicalRequest
        switch await admitCanonical(
            request, meter: &meter,
            decode: { json throws(TranslationError) in
                try ResponsesFormat.decodeRequest(json)
            })
        {
        case .failure(let error): return fail(error, meter: meter)
        case .success(let admitted): (principal, _, canonical) = admitted
        }
        return await serveCanonical(
            request, canonical: canonical, principal: principal, meter: &meter, includeUsage: true, passthroughKind: nil
        ) { _ in nil }
    }
}
