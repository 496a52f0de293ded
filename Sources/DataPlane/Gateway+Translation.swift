import Foundation
import Governance
import Hummingbird
import NIOCore
import Providers
import Routing
import SwitchyardCore
import WireFormats

/// Requests whose client format differs from the serving provider's: the request goes through
/// the canonical form, and the answer — whole or streamed event by event — is written back in
/// the client's format. Same-format pairs pass bytes through instead.
extension Gateway {
    /// The decode stage of the endpoints served through the canonical form: authentication, the
    /// guardrails, the body parsed strictly, and the client format's decoding, with errors that
    /// name the field.
    ///
    /// `generates`: the endpoint asks for an answer, so the request's parameters go on its span
    /// (a token count's are not the client's).
    func receiveCanonical(
        _ request: Request, context: inout RequestContext, generates: Bool = true,
        decode: (JSONValue) throws(TranslationError) -> CanonicalRequest
    ) async throws(OpenAIError) -> (Principal, [UInt8], CanonicalRequest) {
        let (principal, body) = try await authenticatedBody(request, context: &context)
        let json = try Self.parseBody(body)
        try identifyRun(request, body: json, context: &context)
        let canonical: CanonicalRequest
        do throws(TranslationError) {
            canonical = try decode(json)
        } catch {
            throw OpenAIError(error)
        }
        if let trace = context.trace {
            if generates { trace.requestParameters(canonical) }
            if tracesContent(context) { trace.inputContent(canonical) }
        }
        return (principal, body, canonical)
    }

    /// Routing facts about a canonical request.
    func profile(of canonical: CanonicalRequest) -> RequestProfile {
        var required: Set<Capability> = []
        if canonical.stream { required.insert(.streaming) }
        if !canonical.tools.isEmpty { required.insert(.tools) }
        let hasImages = canonical.messages.contains { message in
            message.content.contains { if case .image = $0 { true } else { false } }
        }
        if hasImages { required.insert(.vision) }
        switch canonical.responseFormat {
        case .jsonObject, .jsonSchema: required.insert(.jsonMode)
        case .text, nil: break
        }
        return RequestProfile(
            estimatedInputTokens: TokenEstimator.inputTokens(of: canonical), maxOutputTokens: canonical.maxOutputTokens,
            requiredCapabilities: required)
    }

    /// The request body for `deployment`'s provider format, translated from canonical.
    func translatedCall(_ canonical: CanonicalRequest, for deployment: Deployment) throws(TranslationError) -> UpstreamCall {
        switch kind(of: deployment) {
        case .openai:
            return UpstreamCall(
                path: "/chat/completions", body: OpenAIChatFormat.encodeRequest(canonical, model: deployment.model).serialized())
        case .anthropic:
            return UpstreamCall(
                path: "/messages", body: try AnthropicFormat.encodeRequest(canonical, model: deployment.model).serialized())
        case .gemini:
            return UpstreamCall(
                path: GeminiFormat.path(model: deployment.model, streaming: canonical.stream),
                body: try GeminiFormat.encodeRequest(canonical).serialized())
        }
    }

    /// A whole answer of `deployment`'s provider format, in the canonical form.
    func canonicalResponse(_ json: JSONValue, from deployment: Deployment) throws(TranslationError) -> CanonicalResponse {
        switch kind(of: deployment) {
        case .openai: try OpenAIChatFormat.decodeResponse(json)
        case .anthropic: try AnthropicFormat.decodeResponse(json)
        case .gemini: try GeminiFormat.decodeResponse(json)
        }
    }

    /// Prepares each candidate's call, dropping candidates whose format cannot express the
    /// request. When none is left, the answer is a 400 naming the field.
    func prepareCalls(
        _ plan: inout RoutePlan, canonical: CanonicalRequest, passthrough: (Deployment) -> UpstreamCall?
    ) throws(OpenAIError) -> [String: UpstreamCall] {
        var calls: [String: UpstreamCall] = [:]
        var refusal: TranslationError?
        plan.candidates.removeAll { deployment in
            if let call = passthrough(deployment) {
                calls[deployment.name] = call
                return false
            }
            do throws(TranslationError) {
                calls[deployment.name] = try translatedCall(canonical, for: deployment)
                return false
            } catch {
                refusal = refusal ?? error
                return true
            }
        }
        if plan.candidates.isEmpty, let refusal { throw OpenAIError(refusal) }
        return calls
    }

    /// The relay of a canonical request: the upstream's answer in the client's format.
    func respondTranslated(
        _ exchange: CanonicalExchange, includeUsage: Bool, context: RequestContext, settlement: consuming Settlement
    ) -> SettledResponse {
        respondTranslated(
            exchange.upstream, format: context.format, canonical: exchange.canonical,
            estimatedInputTokens: exchange.estimatedInputTokens, passthrough: exchange.passthrough,
            includeUsage: includeUsage, context: context, settlement: settlement)
    }

    /// Answers with the upstream's response written in the client's format.
    func respondTranslated(
        _ upstream: UpstreamSuccess, format: ClientFormat, canonical: CanonicalRequest, estimatedInputTokens: Int,
        passthrough: Bool, includeUsage: Bool, context: RequestContext, settlement: consuming Settlement
    ) -> SettledResponse {
        if canonical.stream {
            let relay = TranslatedStreamRelay(
                decoder: EgressStreamDecoder(kind: kind(of: upstream.deployment)),
                encoder: IngressStreamEncoder(
                    format: format, request: canonical, model: upstream.deployment.model,
                    createdAt: Int(Date().timeIntervalSince1970), includeUsage: includeUsage,
                    estimatedInputTokens: estimatedInputTokens),
                passthrough: passthrough, readsResponseFacts: context.trace != nil,
                recordsContent: context.trace != nil && tracesContent(context))
            return settlement.handOff { settlement in
                relayStream(
                    upstream, relay, estimatedInputTokens: estimatedInputTokens, context: context, settlement: settlement)
            }
        }
        var context = context
        let body = upstream.body ?? []
        let decoded: CanonicalResponse
        do {
            decoded = try canonicalResponse(JSONValue.parse(body), from: upstream.deployment)
        } catch {
            if !context.attempts.isEmpty { context.attempts[context.attempts.count - 1].errorClass = .upstreamError }
            return settlement.refuse(
                .upstream(
                    .upstreamError, status: 502,
                    message: "Deployment '\(upstream.deployment.name)' answered with a body Switchyard cannot read: \(error)"),
                context, gateway: self)
        }
        var response = decoded
        if response.model.isEmpty { response.model = upstream.deployment.model }
        if let trace = context.trace {
            var facts = ResponseFacts()
            facts.read(.start(id: response.id, model: response.model))
            facts.read(.stop(response.stopReason))
            trace.response(facts)
            if tracesContent(context) { trace.outputContent(TracedContent.outputMessages(response)) }
        }
        let usage = TokenUsage(
            response.usage, estimatedInputTokens: estimatedInputTokens,
            estimatedOutputTokens: TokenEstimator.tokens(
                forCharacters: response.text.count + response.toolCalls.reduce(0) { $0 + $1.arguments.count }))
        if let route = context.route { monitor.recordOutputTokens(route: route, usage.outputTokens) }
        let settled = settlement.settle(context, status: 200, errorClass: nil, usage: usage, gateway: self)
        let now = Int(Date().timeIntervalSince1970)
        let bytes: [UInt8]
        if passthrough {
            bytes = body
        } else {
            switch format {
            case .openAIChat: bytes = OpenAIChatFormat.encodeResponse(response, created: now).serialized()
            case .anthropicMessages:
                if !response.id.hasPrefix("msg_") { response.id = "msg_" + response.id }
                bytes = AnthropicFormat.encodeResponse(response).serialized()
            case .openAIResponses:
                bytes = ResponsesFormat.encodeResponse(
                    response, request: canonical, id: "resp_" + RandomIdentifier.lowercase(count: 24), createdAt: now
                ).serialized()
            }
        }
        var answer = Response.json(status: .ok, bytes)
        decorate(&answer, context: context, upstream: upstream, estimated: usage.isEstimated)
        return SettledResponse(answer, settled)
    }
}
