import Foundation
import Hummingbird
import Providers
import Routing
import SwitchyardCore
import WireFormats

extension Gateway {
    /// `POST /v1/embeddings`.
    func embeddings(_ request: Request) async -> Response {
        await serve(
            request, endpoint: "embeddings", format: .openAIChat,
            prepare: { request, context throws(OpenAIError) in try await prepareEmbeddings(request, context: &context) },
            relay: { exchange, context, settlement in
                let (upstream, estimatedInput) = exchange
                let responseBody = upstream.body ?? []
                let reported = (try? decoder.decode(OpenAIUsageEnvelope.self, from: Data(responseBody)))?.usage
                let usage =
                    reported.map { TokenUsage(inputTokens: $0.promptTokens ?? 0, isEstimated: false) }
                    ?? TokenUsage(inputTokens: estimatedInput, isEstimated: true)
                let settled = settlement.settle(
                    context, status: upstream.response.status, errorClass: nil, usage: usage, gateway: self)
                return SettledResponse(passedThrough(upstream, context: context, estimated: usage.isEstimated), settled)
            })
    }

    /// The stages up to execute; the answer and the estimated input tokens.
    private func prepareEmbeddings(_ request: Request, context: inout RequestContext) async throws(OpenAIError) -> (
        UpstreamSuccess, Int
    ) {
        let received = try await receive(request, as: OpenAIEmbeddingsRequest.self, context: &context)
        let (principal, editor, embeddingsRequest) = (received.principal, received.editor, received.decoded)
        let estimatedInput: Int =
            switch embeddingsRequest.input {
            case .texts(let texts): TokenEstimator.inputTokens(ofTexts: texts)
            case .tokens(let count): count
            }
        var plan = try await planRoute(
            request, model: embeddingsRequest.model, metadata: nil,
            // An embedding has no output tokens: a max_output_tokens rule is met, and none is reserved.
            profile: RequestProfile(estimatedInputTokens: estimatedInput, maxOutputTokens: 0), principal: principal,
            context: &context)
        // Embeddings are served in OpenAI's format only.
        plan.candidates.removeAll { kind(of: $0) != .openai }
        guard !plan.candidates.isEmpty else {
            throw .invalidRequest(
                "Route '\(plan.route.name)' has no OpenAI-compatible deployment to serve embeddings.", param: "model")
        }
        let upstream = try await executor.execute(plan, streaming: false, context: &context) { deployment in
            UpstreamCall(path: "/embeddings", body: editor.replacing([("model", JSONText.string(deployment.model))]))
        }
        return (upstream, estimatedInput)
    }

    /// `GET /v1/models`: the routes this key may use, in OpenAI's list shape. Not booked in the
    /// ledger (nothing is used), unless it is refused.
    func models(_ request: Request) async -> Response {
        await serve(
            request, endpoint: "models", format: .openAIChat,
            prepare: { request, context throws(OpenAIError) in try await authenticate(request, context: &context) },
            relay: { principal, context, settlement in
                let settled = settlement.bookNothing(context)
                let entries = routes.routeNames(usableBy: self.tenant(named: principal.tenant)).map { name in
                    Array(#"{"id":"#.utf8) + JSONText.string(name)
                        + Array(#","object":"model","created":0,"owned_by":"switchyard"}"#.utf8)
                }
                var body = Array(#"{"object":"list","data":["#.utf8)
                for (index, entry) in entries.enumerated() {
                    if index > 0 { body.append(UInt8(ascii: ",")) }
                    body += entry
                }
                body += Array("]}".utf8)
                var response = Response.json(status: .ok, body)
                response.headers[.requestID] = context.id
                return SettledResponse(response, settled)
            })
    }
}
