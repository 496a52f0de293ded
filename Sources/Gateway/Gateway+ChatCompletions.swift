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
        var meter = RequestMeter(endpoint: "chat.completions")
        let admitted: AdmittedRequest<OpenAIChatRequest>
        switch await admit(request, as: OpenAIChatRequest.self, meter: &meter) {
        case .failure(let error): return fail(error, meter: meter)
        case .success(let success): admitted = success
        }
        let (principal, editor, chat) = (admitted.principal, admitted.editor, admitted.decoded)
        if let (field, value) = chat.invalidTokenLimit {
            return fail(.invalidRequest("'\(field)' must be at least 1, not \(value).", param: field), meter: meter)
        }
        meter.streamed = chat.isStreaming
        let estimatedInput = TokenEstimator.inputTokens(of: chat.messages)
        let profile = RequestProfile(
            estimatedInputTokens: estimatedInput, maxOutputTokens: chat.maxOutputTokens,
            requiredCapabilities: Self.requiredCapabilities(chat, editor))
        var plan: RoutePlan
        let tools = governor.policies.isEmpty ? [] : Self.declaredToolNames(admitted.json)
        switch planRoute(
            request, model: chat.model, metadata: chat.metadata, profile: profile, principal: principal, toolNames: tools,
            meter: &meter)
        {
        case .failure(let error): return fail(error, meter: meter)
        case .success(let planned): plan = planned
        }

        // Always ask a streaming upstream for usage; the relay hides it if the client did not ask.
        let forceStreamUsage = chat.isStreaming && !chat.clientWantsStreamUsage
        let passthrough = { @Sendable (deployment: Deployment) -> EgressCall in
            var replacements = [("model", JSONText.string(deployment.model))]
            if forceStreamUsage { replacements.append(("stream_options", Array(#"{"include_usage":true}"#.utf8))) }
            return EgressCall(path: "/chat/completions", body: editor.replacing(replacements))
        }
        // Deployments of other provider families get the request translated; OpenAI-compatible
        // ones keep the byte-for-byte fast path.
        var canonical: CanonicalRequest?
        var translatedCalls: [String: EgressCall] = [:]
        if plan.candidates.contains(where: { kind(of: $0) != .openai }) {
            do {
                canonical = try OpenAIChatFormat.decodeRequest(admitted.json)
            } catch {
                // Untranslatable for other families: the OpenAI-compatible candidates may still serve it.
                let refusal =
                    (error as? TranslationError).map(Self.clientError)
                    ?? .invalidRequest("The request body is not valid JSON: \(error).")
                plan.candidates.removeAll { kind(of: $0) != .openai }
                if plan.candidates.isEmpty { return fail(refusal, meter: meter) }
            }
            if let canonical {
                switch prepareCalls(
                    &plan, canonical: canonical, passthrough: { [self] in kind(of: $0) == .openai ? passthrough($0) : nil })
                {
                case .failure(let error): return fail(error, meter: meter)
                case .success(let calls): translatedCalls = calls
                }
            }
        }
        let calls = translatedCalls
        let outcome = await execute(plan, streaming: chat.isStreaming, meter: &meter) { deployment in
            calls[deployment.name] ?? passthrough(deployment)
        }
        let success: UpstreamSuccess
        switch outcome {
        case .failure(let error): return fail(error, meter: meter)
        case .success(let upstream): success = upstream
        }
        if let canonical, kind(of: success.deployment) != .openai {
            return respondTranslated(
                success, format: .openAIChat, canonical: canonical, estimatedInputTokens: estimatedInput, passthrough: false,
                includeUsage: chat.clientWantsStreamUsage, meter: meter)
        }
        if chat.isStreaming {
            return streamChat(success, chat: chat, estimatedInputTokens: estimatedInput, meter: meter)
        }
        return completeChat(success, estimatedInputTokens: estimatedInput, meter: meter)
    }

    /// The response's `usage`, decoding only that member: the rest of the body passes through unread.
    func reportedUsage(in body: [UInt8]) -> TokenUsage? {
        guard let editor = JSONObjectEditor(body), let usage = editor.value(of: "usage") else { return nil }
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

    private func completeChat(_ upstream: UpstreamSuccess, estimatedInputTokens: Int, meter: RequestMeter) -> Response {
        let body = upstream.body ?? []
        let usage = reportedUsage(in: body) ?? estimatedUsage(of: body, estimatedInputTokens: estimatedInputTokens)
        if let route = meter.route { monitor.recordOutputTokens(route: route, usage.outputTokens) }
        meter.finish(status: upstream.response.status, errorClass: nil, usage: usage, gateway: self)
        var response = Response(
            status: .init(code: upstream.response.status),
            headers: [.contentType: upstream.response.contentType ?? "application/json"],
            body: .init(byteBuffer: ByteBuffer(bytes: body)))
        decorate(&response, meter: meter, upstream: upstream, estimated: usage.isEstimated)
        return response
    }

    private func streamChat(
        _ upstream: UpstreamSuccess, chat: OpenAIChatRequest, estimatedInputTokens: Int, meter: RequestMeter
    ) -> Response {
        let clientWantsUsage = chat.clientWantsStreamUsage
        let idleLimit = upstream.idleLimit
        let body = ResponseBody { [self] writer in
            var meter = meter
            var relay = ChatStreamRelay(clientWantsUsage: clientWantsUsage)
            var upstreamFailure: UpstreamFailure?
            var clientGone = false
            var killedBy: KillSwitch?
            var chunks = StreamPieces(upstream.response.body.makeAsyncIterator())
            do {
                // Each chunk must arrive within the deployment's idle timeout.
                while let buffer = try await chunks.next(within: idleLimit) {
                    if let kill = governor.kills.stopping(meter.principal) {
                        killedBy = kill
                        break
                    }
                    let bytes = relay.relay(buffer)
                    if bytes.isEmpty { continue }
                    if meter.timeToFirstToken == nil { meter.timeToFirstToken = ContinuousClock.now - meter.startInstant }
                    do {
                        try await writer.write(ByteBuffer(bytes: bytes))
                    } catch {
                        clientGone = true
                        break
                    }
                }
            } catch {
                upstreamFailure = HTTPClientTransport.classify(error)
            }
            let usage = relay.tokenUsage(estimatedInputTokens: estimatedInputTokens)
            if let killedBy {
                // Leaving the loop dropped the upstream body, which cancels the upstream request.
                settleStream(upstream, .killed, usage: usage, meter: &meter)
                let error = Self.clientError(.killed(killedBy))
                try? await writer.write(ByteBuffer(bytes: ServerSentEvent(data: error.body()).encoded()))
                try? await writer.finish(nil)
                return
            }
            if clientGone {
                // Leaving the loop dropped the upstream body, which cancels the upstream request.
                settleStream(upstream, .clientGone, usage: usage, meter: &meter)
                return
            }
            if upstreamFailure == nil && relay.endedCleanly {
                settleStream(upstream, .complete, usage: usage, meter: &meter)
                try? await writer.finish(nil)
                return
            }
            let errorClass: ErrorClass = upstreamFailure?.errorClass == .upstreamTimeout ? .upstreamTimeout : .streamInterrupted
            settleStream(upstream, .failed(errorClass), usage: usage, meter: &meter)
            let reason =
                relay.upstreamError.map { "the upstream reported an error: \($0)" }
                ?? upstreamFailure?.message ?? "the upstream closed the stream before it was complete"
            let error = OpenAIError.upstream(
                errorClass, status: 502,
                message: "The stream from deployment '\(upstream.deployment.name)' was interrupted: \(reason)")
            if relay.upstreamError == nil {
                // Nothing is retried once bytes reached the client: end the stream with an error
                // event the OpenAI SDKs raise as an APIError.
                try? await writer.write(ByteBuffer(bytes: ServerSentEvent(data: error.body()).encoded()))
            }
            try? await writer.finish(nil)
        }
        var response = Response(
            status: .ok,
            headers: [.contentType: "text/event-stream", .cacheControl: "no-cache"],
            body: body)
        decorate(&response, meter: meter, upstream: upstream, estimated: nil)
        return response
    }

    func decorate(_ response: inout Response, meter: RequestMeter, upstream: UpstreamSuccess, estimated: Bool?) {
        // Appended, not set: none of these is in a response the gateway has just built, and
        // setting one searches and rebuilds the field list. Room made once for all of them.
        response.headers.reserveCapacity(response.headers.count + 14)
        response.headers.append(HTTPField(name: .requestID, value: meter.id))
        if let route = meter.route { response.headers.append(HTTPField(name: .switchyardRoute, value: route)) }
        response.headers.append(HTTPField(name: .switchyardDeployment, value: upstream.deployment.name))
        response.headers.append(HTTPField(name: .switchyardAttempts, value: String(meter.attempts.count)))
        addRateLimitHeaders(&response, meter.rateLimitStatus)
        if meter.redactions > 0 {
            response.headers.append(HTTPField(name: .switchyardRedactions, value: String(meter.redactions)))
        }
        if let estimated {
            response.headers.append(HTTPField(name: .switchyardUsageEstimated, value: estimated ? "true" : "false"))
        }
    }
}
