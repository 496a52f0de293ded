import Foundation
import Governance
import HTTPTypes
import Hummingbird
import Providers
import Routing
import SwitchyardCore
import WireFormats

extension Gateway {
    /// `POST /v1/chat/completions`, streamed or not.
    func chatCompletions(_ request: Request) async -> Response {
        await serve(
            request, endpoint: "chat.completions", format: .openAIChat,
            prepare: { request, context throws(OpenAIError) in try await prepareChat(request, context: &context) },
            relay: { exchange, context, settlement in relayChat(exchange, context: context, settlement: settlement) })
    }

    /// A chat completion an upstream has begun to answer.
    struct ChatExchange: Sendable {
        var chat: OpenAIChatRequest
        var upstream: UpstreamSuccess
        /// The request in canonical form, when a deployment of another provider family was a candidate.
        var canonical: CanonicalRequest?
        var estimatedInputTokens: Int
    }

    /// The stages up to execute. OpenAI-compatible deployments get the client's body as sent
    /// (only `model` rewritten); others get it translated.
    func prepareChat(_ request: Request, context: inout RequestContext) async throws(OpenAIError) -> ChatExchange {
        let received = try await receive(request, as: OpenAIChatRequest.self, context: &context)
        let (principal, editor, chat) = (received.principal, received.editor, received.decoded)
        if let (field, value) = chat.invalidTokenLimit {
            throw .invalidRequest("'\(field)' must be at least 1, not \(value).", param: field)
        }
        context.streamed = chat.isStreaming
        // The canonical form, when the span's content needs it now (kept for translation below).
        var decoded: CanonicalRequest?
        if let trace = context.trace {
            trace.requestParameters(received.json, maxTokens: chat.maxOutputTokens)
            if tracesContent(context) {
                decoded = try? OpenAIChatFormat.decodeRequest(received.json)
                trace.inputContent(decoded)
            }
        }
        // Tool schemas and a response format are prompt too (the canonical path counts them): a
        // tenant must not make a large prompt look small to budgets and limits.
        let schemaBytes = editor.members.reduce(0) { total, member in
            switch member.key {
            case "tools", "functions", "response_format": total + member.valueRange.count
            default: total
            }
        }
        let estimatedInput = TokenEstimator.inputTokens(of: chat.messages) + TokenEstimator.tokens(forCharacters: schemaBytes)
        let profile = RequestProfile(
            estimatedInputTokens: estimatedInput, maxOutputTokens: chat.maxOutputTokens,
            requiredCapabilities: Self.requiredCapabilities(chat, editor))
        let tools = governor.policies.isEmpty ? [] : DeclaredTools.names(in: received.json)
        var plan = try await planRoute(
            request, model: chat.model, metadata: chat.metadata, profile: profile, principal: principal, toolNames: tools,
            answers: chat.n ?? 1, context: &context)

        // Always ask a streaming upstream for usage; the relay hides it if the client did not ask.
        let forceStreamUsage = chat.isStreaming && !chat.clientWantsStreamUsage
        let passthrough = { @Sendable (deployment: Deployment) -> UpstreamCall in
            var replacements = [("model", JSONText.string(deployment.model))]
            if forceStreamUsage { replacements.append(("stream_options", Array(#"{"include_usage":true}"#.utf8))) }
            return UpstreamCall(path: "/chat/completions", body: editor.replacing(replacements))
        }
        // Deployments of other provider families get the request translated; OpenAI-compatible
        // ones keep the byte-for-byte fast path.
        var canonical: CanonicalRequest?
        var translatedCalls: [String: UpstreamCall] = [:]
        if plan.candidates.contains(where: { kind(of: $0) != .openai }) {
            do throws(TranslationError) {
                if let decoded { canonical = decoded } else { canonical = try OpenAIChatFormat.decodeRequest(received.json) }
            } catch {
                // Untranslatable for other families: the OpenAI-compatible candidates may still serve it.
                plan.candidates.removeAll { kind(of: $0) != .openai }
                if plan.candidates.isEmpty { throw OpenAIError(error) }
            }
            if let canonical {
                translatedCalls = try prepareCalls(
                    &plan, canonical: canonical, passthrough: { [self] in kind(of: $0) == .openai ? passthrough($0) : nil })
            }
        }
        let calls = translatedCalls
        let upstream = try await executor.execute(plan, streaming: chat.isStreaming, context: &context) { deployment in
            calls[deployment.name] ?? passthrough(deployment)
        }
        return ChatExchange(chat: chat, upstream: upstream, canonical: canonical, estimatedInputTokens: estimatedInput)
    }

    /// The relay: the upstream's answer passed through, or translated when another provider
    /// family served it.
    func relayChat(_ exchange: ChatExchange, context: RequestContext, settlement: consuming Settlement) -> SettledResponse {
        let upstream = exchange.upstream
        if let canonical = exchange.canonical, kind(of: upstream.deployment) != .openai {
            return respondTranslated(
                upstream, format: .openAIChat, canonical: canonical, estimatedInputTokens: exchange.estimatedInputTokens,
                passthrough: false, includeUsage: exchange.chat.clientWantsStreamUsage, context: context,
                settlement: settlement)
        }
        if exchange.chat.isStreaming {
            return settlement.handOff { settlement in
                relayStream(
                    upstream,
                    ChatStreamRelay(
                        clientWantsUsage: exchange.chat.clientWantsStreamUsage, readsResponseFacts: context.trace != nil,
                        recordsContent: context.trace != nil && tracesContent(context)),
                    estimatedInputTokens: exchange.estimatedInputTokens, context: context, settlement: settlement)
            }
        }
        return completeChat(
            upstream, estimatedInputTokens: exchange.estimatedInputTokens, context: context, settlement: settlement)
    }

    /// Whether the request's span takes its prompt and answer: the operator allows it
    /// (`observability.tracing.allow_content`) and the request's policies opt in (`trace_content`).
    func tracesContent(_ context: RequestContext) -> Bool {
        traceContentAllowed && context.policy?.traceContent?.value == true
    }

    /// The response's `usage`, decoding only that member: the rest of the body passes through unread.
    func reportedUsage(in response: JSONObjectEditor?) -> TokenUsage? {
        guard let usage = response?.value(of: "usage") else { return nil }
        return OpenAIUsage(json: usage)?.tokenUsage
    }

    /// Counted by Switchyard when the upstream reported none.
    func estimatedUsage(of body: [UInt8], estimatedInputTokens: Int) -> TokenUsage {
        let completion = try? decoder.decode(OpenAIChatCompletion.self, from: Data(body))
        return TokenUsage(
            inputTokens: estimatedInputTokens,
            outputTokens: TokenEstimator.tokens(forCharacters: completion?.outputCharacterCount ?? 0),
            isEstimated: true)
    }

    /// What a deployment must support to serve this request.
    static func requiredCapabilities(_ chat: OpenAIChatRequest, _ editor: JSONObjectEditor) -> Set<Capability> {
        var required: Set<Capability> = []
        if chat.isStreaming { required.insert(.streaming) }
        for key in ["tools", "functions"] {
            if let value = editor.value(of: key), !value.elementsEqual("null".utf8),
                !value.filter({ ![0x20, 0x0A, 0x0D, 0x09].contains($0) }).elementsEqual("[]".utf8)
            {
                required.insert(.tools)
            }
        }
        if chat.hasImages { required.insert(.vision) }
        if chat.wantsJSON { required.insert(.jsonMode) }
        return required
    }

    private func completeChat(
        _ upstream: UpstreamSuccess, estimatedInputTokens: Int, context: RequestContext, settlement: consuming Settlement
    ) -> SettledResponse {
        let body = upstream.body ?? []
        // The answer's members found once, for its usage and, when traced, its id, finish reasons and content.
        let response = JSONObjectEditor(body, generated: true)
        let usage = reportedUsage(in: response) ?? estimatedUsage(of: body, estimatedInputTokens: estimatedInputTokens)
        if let route = context.route { monitor.recordOutputTokens(route: route, usage.outputTokens) }
        if let trace = context.trace, let response {
            trace.responseFacts(response)
            if tracesContent(context) {
                trace.outputContent(
                    (try? OpenAIChatFormat.decodeResponse(JSONValue.parse(body))).map(TracedContent.outputMessages))
            }
        }
        let settled = settlement.settle(
            context, status: upstream.response.status, errorClass: nil, usage: usage, gateway: self)
        return SettledResponse(passedThrough(upstream, context: context, estimated: usage.isEstimated), settled)
    }

    /// A non-streamed upstream answer as the client's response: its status, type and body as
    /// they came, with the gateway's headers.
    func passedThrough(_ upstream: UpstreamSuccess, context: RequestContext, estimated: Bool) -> Response {
        var response = Response(
            status: .init(code: upstream.response.status),
            headers: [.contentType: upstream.response.contentType ?? "application/json"],
            body: .init(byteBuffer: ByteBuffer(bytes: upstream.body ?? [])))
        decorate(&response, context: context, upstream: upstream, estimated: estimated)
        return response
    }

    func decorate(_ response: inout Response, context: RequestContext, upstream: UpstreamSuccess, estimated: Bool?) {
        // Appended, not set: none of these is in a response the gateway has just built, and
        // setting one searches and rebuilds the field list. Room made once for all of them.
        response.headers.reserveCapacity(response.headers.count + 14)
        response.headers.append(HTTPField(name: .requestID, value: context.id))
        if let route = context.route { response.headers.append(HTTPField(name: .switchyardRoute, value: route)) }
        response.headers.append(HTTPField(name: .switchyardDeployment, value: upstream.deployment.name))
        response.headers.append(HTTPField(name: .switchyardAttempts, value: String(context.attempts.count)))
        addRateLimitHeaders(&response, context.rateLimitStatus)
        if context.redactions > 0 {
            response.headers.append(HTTPField(name: .switchyardRedactions, value: String(context.redactions)))
        }
        if let estimated {
            response.headers.append(HTTPField(name: .switchyardUsageEstimated, value: estimated ? "true" : "false"))
        }
    }
}
