import Foundation
import HTTPTypes
import Hummingbird
import Providers
import Routing
import SwitchyardCore
import WireFormats

extension Gateway {
    /// `POST /v1/messages`: Anthropic clients, served by any provider. Anthropic deployments get
    /// the client's body as sent (only `model` rewritten) and their answer passes through.
    func messages(_ request: Request) async -> Response {
        await serve(
            request, endpoint: "messages", format: .anthropicMessages,
            prepare: { request, context throws(OpenAIError) in
                try checkAnthropicVersion(request)
                let (principal, body, canonical) = try await receiveCanonical(request, context: &context) {
                    json throws(TranslationError) in try AnthropicFormat.decodeRequest(json)
                }
                let passthrough = JSONObjectEditor(body)
                // Anthropic deployments see the client's API version and beta flags as sent.
                let forwarded = [HTTPField.Name.anthropicVersion, .anthropicBeta].compactMap { name in
                    request.headers.value(of: name).map { (name.canonicalName, $0) }
                }
                return try await executeCanonical(
                    request, canonical: canonical, principal: principal, context: &context, passthroughKind: .anthropic
                ) { deployment in
                    passthrough.map {
                        UpstreamCall(
                            path: "/messages", body: $0.replacing([("model", JSONText.string(deployment.model))]),
                            headers: forwarded)
                    }
                }
            },
            relay: { exchange, context, settlement in
                respondTranslated(exchange, includeUsage: false, context: context, settlement: settlement)
            })
    }

    /// `POST /v1/messages/count_tokens`: Switchyard's estimate (about four characters per token),
    /// marked with `x-switchyard-usage-estimated: true`; no provider is called.
    func countTokens(_ request: Request) async -> Response {
        await serve(
            request, endpoint: "messages.count_tokens", format: .anthropicMessages,
            prepare: { request, context throws(OpenAIError) in
                try checkAnthropicVersion(request)
                let (principal, _, canonical) = try await receiveCanonical(request, context: &context, generates: false) {
                    json throws(TranslationError) in
                    // count_tokens takes no max_tokens.
                    guard case .object(var object) = json else { return try AnthropicFormat.decodeRequest(json) }
                    if object["max_tokens"] == nil { object["max_tokens"] = .number(1) }
                    return try AnthropicFormat.decodeRequest(.object(object))
                }
                _ = try routes.resolve(canonical.model, principal: principal, context: &context)
                return TokenEstimator.inputTokens(of: canonical)
            },
            relay: { tokens, context, settlement in
                let settled = settlement.settle(context, status: 200, errorClass: nil, usage: .none, gateway: self)
                var response = Response.json(status: .ok, Array(#"{"input_tokens":\#(tokens)}"#.utf8))
                response.headers[.requestID] = context.id
                response.headers[.switchyardUsageEstimated] = "true"
                return SettledResponse(response, settled)
            })
    }

    /// Anthropic requires the header; any dated version is accepted (translation speaks the
    /// 2023-06-01 event and object shapes, which later versions keep).
    private func checkAnthropicVersion(_ request: Request) throws(OpenAIError) {
        guard let version = request.headers.value(of: .anthropicVersion) else {
            throw .invalidRequest("anthropic-version: header is required.")
        }
        let parts = version.split(separator: "-")
        guard parts.count == 3, parts.allSatisfy({ $0.allSatisfy(\.isNumber) }) else {
            throw .invalidRequest("anthropic-version '\(version)' is not a version date such as 2023-06-01.")
        }
    }

    /// A canonical request an upstream has begun to answer.
    struct CanonicalExchange: Sendable {
        var canonical: CanonicalRequest
        var upstream: UpstreamSuccess
        var estimatedInputTokens: Int
        /// The serving provider speaks the client's format: its answer passes through.
        var passthrough: Bool
    }

    /// The stages after decoding for a canonical request: tags, route, plan, per-candidate calls
    /// (passthrough where the provider speaks the client's format), and execution.
    func executeCanonical(
        _ request: Request, canonical: CanonicalRequest, principal: Principal, context: inout RequestContext,
        passthroughKind: ProviderKind?, passthrough: @escaping (Deployment) -> UpstreamCall?
    ) async throws(OpenAIError) -> CanonicalExchange {
        context.streamed = canonical.stream
        let profile = profile(of: canonical)
        var plan = try await planRoute(
            request, model: canonical.model, metadata: canonical.metadata.isEmpty ? nil : canonical.metadata,
            profile: profile, principal: principal, toolNames: DeclaredTools.names(in: canonical), context: &context)
        let speaksClientFormat = { [self] (deployment: Deployment) in passthroughKind == kind(of: deployment) }
        let calls = try prepareCalls(
            &plan, canonical: canonical, passthrough: { speaksClientFormat($0) ? passthrough($0) : nil })
        // prepareCalls made a call for every candidate it kept.
        let upstream = try await executor.execute(plan, streaming: canonical.stream, context: &context) { calls[$0.name]! }
        return CanonicalExchange(
            canonical: canonical, upstream: upstream, estimatedInputTokens: profile.estimatedInputTokens,
            passthrough: speaksClientFormat(upstream.deployment))
    }
}
