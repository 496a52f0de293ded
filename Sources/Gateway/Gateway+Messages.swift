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
        var meter = RequestMeter(endpoint: "messages")
        meter.format = .anthropicMessages
        if let error = checkAnthropicVersion(request) { return fail(error, meter: meter) }
        let principal: Principal
        let body: [UInt8]
        let canonical: CanonicalRequest
        switch await admitCanonical(
            request, meter: &meter,
            decode: { json throws(TranslationError) in
                try AnthropicFormat.decodeRequest(json)
            })
        {
        case .failure(let error): return fail(error, meter: meter)
        case .success(let admitted): (principal, body, canonical) = admitted
        }
        let passthrough = JSONObjectEditor(body)
        // Anthropic deployments see the client's API version and beta flags as sent.
        let forwarded = [HTTPField.Name.anthropicVersion, .anthropicBeta].compactMap { name in
            request.headers.value(of: name).map { (name.canonicalName, $0) }
        }
        return await serveCanonical(
            request, canonical: canonical, principal: principal, meter: &meter, includeUsage: false,
            passthroughKind: .anthropic
        ) { deployment in
            passthrough.map {
                EgressCall(
                    path: "/messages", body: $0.replacing([("model", JSONText.string(deployment.model))]), headers: forwarded)
            }
        }
    }

    /// `POST /v1/messages/count_tokens`: Switchyard's estimate (about four characters per token),
    /// marked with `x-switchyard-usage-estimated: true`; no provider is called.
    func countTokens(_ request: Request) async -> Response {
        var meter = RequestMeter(endpoint: "messages.count_tokens")
        meter.format = .anthropicMessages
        if let error = checkAnthropicVersion(request) { return fail(error, meter: meter) }
        let principal: Principal
        let canonical: CanonicalRequest
        switch await admitCanonical(
            request, meter: &meter,
            decode: { json throws(TranslationError) in
                // count_tokens takes no max_tokens.
                guard case .object(var object) = json else { return try AnthropicFormat.decodeRequest(json) }
                if object["max_tokens"] == nil { object["max_tokens"] = .number(1) }
                return try AnthropicFormat.decodeRequest(.object(object))
            })
        {
        case .failure(let error): return fail(error, meter: meter)
        case .success(let admitted): (principal, _, canonical) = admitted
        }
        switch resolveRoute(canonical.model, principal: principal, meter: &meter) {
        case .failure(let error): return fail(error, meter: meter)
        case .success: break
        }
        let tokens = TokenEstimator.inputTokens(of: canonical)
        meter.finish(status: 200, errorClass: nil, usage: .none, gateway: self)
        var response = Response.json(status: .ok, Array(#"{"input_tokens":\#(tokens)}"#.utf8))
        response.headers[.requestID] = meter.id
        response.headers[.switchyardUsageEstimated] = "true"
        return response
    }

    /// Anthropic requires the header; any dated version is accepted (translation speaks the
    /// 2023-06-01 event and object shapes, which later versions keep).
    private func checkAnthropicVersion(_ request: Request) -> OpenAIError? {
        guard let version = request.headers.value(of: .anthropicVersion) else {
            return .invalidRequest("anthropic-version: header is required.")
        }
        let parts = version.split(separator: "-")
        guard parts.count == 3, parts.allSatisfy({ $0.allSatisfy(\.isNumber) }) else {
            return .invalidRequest("anthropic-version '\(version)' is not a version date such as 2023-06-01.")
        }
        return nil
    }

    /// The rest of the pipeline for a canonical request: tags, route, plan, per-candidate calls
    /// (passthrough where the provider speaks the client's format), execution, and the answer
    /// written in the client's format.
    /// Every tool name a policy must judge in a canonical request: declared tools, tools the
    /// provider runs (`mcp`), and the one a tool choice forces.
    static func toolNames(of canonical: CanonicalRequest) -> [String] {
        var names = canonical.tools.map(\.name) + canonical.providerRunTools
        if case .tool(let forced) = canonical.toolChoice { names.append(forced) }
        return names
    }

    func serveCanonical(
        _ request: Request, canonical: CanonicalRequest, principal: Principal, meter: inout RequestMeter,
        includeUsage: Bool, passthroughKind: ProviderKind?, passthrough: @escaping (Deployment) -> EgressCall?
    ) async -> Response {
        meter.streamed = canonical.stream
        let profile = profile(of: canonical)
        var plan: RoutePlan
        switch planRoute(
            request, model: canonical.model, metadata: canonical.metadata.isEmpty ? nil : canonical.metadata,
            profile: profile, principal: principal, toolNames: Self.toolNames(of: canonical), meter: &meter)
        {
        case .failure(let error): return fail(error, meter: meter)
        case .success(let planned): plan = planned
        }
        let calls: [String: EgressCall]
        let speaksClientFormat = { [self] (deployment: Deployment) in passthroughKind == kind(of: deployment) }
        switch prepareCalls(&plan, canonical: canonical, passthrough: { speaksClientFormat($0) ? passthrough($0) : nil }) {
        case .failure(let error): return fail(error, meter: meter)
        case .success(let prepared): calls = prepared
        }
        // prepareCalls made a call for every candidate it kept.
        let outcome = await execute(plan, streaming: canonical.stream, meter: &meter) { calls[$0.name]! }
        switch outcome {
        case .failure(let error): return fail(error, meter: meter)
        case .success(let upstream):
            return respondTranslated(
                upstream, format: meter.format, canonical: canonical, estimatedInputTokens: profile.estimatedInputTokens,
                passthrough: speaksClientFormat(upstream.deployment), includeUsage: includeUsage, meter: meter)
        }
    }
}
