import HTTPTypes
import Providers
import Routing
import SwitchyardCore
import Tracing
import WireFormats

/// The trace of one request: a SERVER span from arrival to settlement, continued from the
/// client's `traceparent`, and a CLIENT span per upstream attempt, whose context goes to the
/// upstream in its own `traceparent`. Made only when tracing is on (`Gateway.tracer`): with it
/// off, a request pays one nil check per stage.
final class RequestTrace: Sendable {
    private let tracer: any Tracer
    private let span: any Span
    /// `gen_ai.operation.name` of the request's endpoint.
    let operation: String
    /// The `traceparent` (and `tracestate`) of the request's span, for the response.
    let responseHeaders: [(String, String)]
    /// The trace's id (32 hex digits), for the usage record.
    let traceID: String?
    /// Each provider's kind (`openai`, `anthropic`, …): `gen_ai.provider.name` is the kind, the
    /// configured name goes in `switchyard.provider`.
    private let providerKinds: [String: String]

    /// `parent`: the client's trace context, already checked (`TraceSampler.parent`); nil starts a trace.
    init(
        tracer: any Tracer, parent: TraceSampler.Parent?, endpoint: String, providerKinds: [String: String],
        at arrival: DefaultTracerClock.Timestamp
    ) {
        var context = ServiceContext.topLevel
        // Only the two checked fields reach the propagator, never the request's other headers
        // (which it would log, with the caller's key, if it could not parse them).
        if let parent { tracer.extract(parent.headers, into: &context, using: HeaderListExtractor()) }
        self.tracer = tracer
        self.operation = GenAIAttributes.operation(endpoint: endpoint)
        self.providerKinds = providerKinds
        let span = tracer.startSpan(operation, context: context, ofKind: .server, at: arrival)
        self.span = span
        var headers: [(String, String)] = []
        tracer.inject(span.context, into: &headers, using: HeaderListInjector())
        self.responseHeaders = headers
        self.traceID = headers.first { $0.0 == "traceparent" }.map { TraceSampler.traceID(ofTraceparent: $0.1) }
    }

    /// Starts an attempt's CLIENT span; its context goes into the upstream request's headers.
    func startAttempt(_ deployment: Deployment, hedged: Bool, number: Int, request: inout UpstreamRequest) -> any Span {
        let attempt = tracer.startSpan("\(operation) \(deployment.model)", context: span.context, ofKind: .client)
        tracer.inject(attempt.context, into: &request.headers, using: HeaderListInjector())
        guard attempt.isRecording else { return attempt }
        // Built aside and set once: through the protocol, each `attributes[key] =` copies the set.
        var attributes = SpanAttributes()
        attributes[GenAIAttributes.operationName] = operation
        attributes[GenAIAttributes.requestModel] = deployment.model
        attributes[GenAIAttributes.deployment] = deployment.name
        attributes[GenAIAttributes.providerName] = providerKinds[deployment.provider] ?? deployment.provider
        attributes[GenAIAttributes.provider] = deployment.provider
        attributes[GenAIAttributes.attempt] = number
        if hedged { attributes[GenAIAttributes.hedged] = true }
        if let (host, port) = Self.hostAndPort(request.url) {
            attributes[GenAIAttributes.serverAddress] = host
            attributes[GenAIAttributes.serverPort] = port
        }
        attempt.attributes = attributes
        return attempt
    }

    /// Ends an attempt's span with what the upstream answered. An attempt cancelled (its client
    /// left, or it lost a hedge) says nothing against the upstream: not an error span.
    static func endAttempt(_ attempt: any Span, status: Int?, errorClass: ErrorClass?) {
        guard attempt.isRecording else { return attempt.end() }
        var attributes = attempt.attributes
        if let status { attributes[GenAIAttributes.httpStatus] = status }
        if errorClass == .clientCancelled {
            attributes[GenAIAttributes.cancelled] = true
        } else if let errorClass {
            attributes[GenAIAttributes.errorType] = errorClass.rawValue
            attempt.setStatus(SpanStatus(code: .error))
        }
        attempt.attributes = attributes
        attempt.end()
    }

    /// The client's generation parameters (`gen_ai.request.*`), as it sent them.
    func requestParameters(_ json: JSONValue, maxTokens: Int?) {
        guard span.isRecording else { return }
        var attributes = span.attributes
        if let maxTokens { attributes[GenAIAttributes.requestMaxTokens] = maxTokens }
        for (member, name) in [("temperature", GenAIAttributes.requestTemperature), ("top_p", GenAIAttributes.requestTopP)] {
            if case .number(let text)? = json[member], let value = Double(text) { attributes[name] = value }
        }
        span.attributes = attributes
    }

    /// What the upstream said of its answer (`gen_ai.response.id`, `finish_reasons`), read from
    /// a non-streamed OpenAI-format body: parsed again here, for traced requests only.
    func responseFacts(_ body: [UInt8]) {
        guard span.isRecording, let json = try? JSONValue.parse(body) else { return }
        var attributes = span.attributes
        if let id = json["id"]?.stringValue { attributes[GenAIAttributes.responseID] = id }
        let reasons = (json["choices"]?.arrayValue ?? []).compactMap { $0["finish_reason"]?.stringValue }
        if !reasons.isEmpty { attributes[GenAIAttributes.responseFinishReasons] = SpanAttribute.stringArray(reasons) }
        span.attributes = attributes
    }

    /// The wait for a slot in a deployment's fair-share queue, as an INTERNAL child span.
    func startQueueWait(_ deployment: Deployment) -> any Span {
        let wait = tracer.startSpan("switchyard.queue_wait", context: span.context, ofKind: .internal)
        wait.attributes = [GenAIAttributes.deployment: .string(deployment.name)]
        return wait
    }

    /// Ends the queue wait with its outcome: `admitted`, or why it was not.
    static func endQueueWait(_ wait: any Span, refused reason: DeploymentMonitor.Unavailability? = nil) {
        let outcome =
            switch reason {
            case nil: "admitted"
            case .queueTimeout: "queue_timeout"
            case .atCapacity: "at_capacity"
            case .circuitOpen: "circuit_open"
            case .coolingDown: "cooling_down"
            case .healthCheckFailing: "health_check_failing"
            }
        var attributes = wait.attributes
        attributes[GenAIAttributes.queueOutcome] = outcome
        wait.attributes = attributes
        if outcome != "admitted" { wait.setStatus(SpanStatus(code: .error)) }
        wait.end()
    }

    /// Marks a trace the tail rule kept after the request (its attempts made no spans: they are
    /// listed on the request span, in order).
    func keptByTail(attempts: [Attempt]) {
        guard span.isRecording else { return }
        var attributes = SpanAttributes()
        attributes[GenAIAttributes.keptBy] = "tail"
        attributes[GenAIAttributes.attemptDeployments] = SpanAttribute.stringArray(attempts.map(\.deployment))
        attributes[GenAIAttributes.attemptErrors] = SpanAttribute.stringArray(attempts.map { $0.errorClass?.rawValue ?? "" })
        attributes[GenAIAttributes.attemptStatuses] = SpanAttribute.int64Array(attempts.map { Int64($0.status ?? 0) })
        attributes[GenAIAttributes.attemptLatencies] = SpanAttribute.int64Array(attempts.map { $0.latencyMicros / 1000 })
        span.attributes = attributes
    }

    /// A decision a stage took (a guardrail, a policy), as an event on the request's span.
    func record(_ event: String, _ attributes: SpanAttributes = [:]) {
        span.addEvent(SpanEvent(name: event, attributes: attributes))
    }

    /// Ends the request's span with its usage record: who, where, what it used and cost.
    func finish(_ record: UsageRecord) {
        guard span.isRecording else { return span.end() }
        var attributes = span.attributes
        if let route = record.route {
            span.operationName = "\(operation) \(route)"
            attributes[GenAIAttributes.requestModel] = route
            attributes[GenAIAttributes.route] = route
        }
        attributes[GenAIAttributes.operationName] = operation
        attributes[GenAIAttributes.requestID] = record.id
        attributes[GenAIAttributes.requestStream] = record.streamed
        attributes[GenAIAttributes.httpStatus] = record.status
        if let model = record.upstreamModel { attributes[GenAIAttributes.responseModel] = model }
        if let provider = record.provider {
            attributes[GenAIAttributes.providerName] = providerKinds[provider] ?? provider
            attributes[GenAIAttributes.provider] = provider
        }
        if let deployment = record.deployment { attributes[GenAIAttributes.deployment] = deployment }
        if let tenant = record.tenant { attributes[GenAIAttributes.tenant] = tenant }
        if let agent = record.agent { attributes[GenAIAttributes.agent] = agent }
        if let keyID = record.keyID { attributes[GenAIAttributes.keyID] = keyID }
        let usage = record.usage
        attributes[GenAIAttributes.inputTokens] = usage.inputTokens
        attributes[GenAIAttributes.outputTokens] = usage.outputTokens
        if usage.cachedInputTokens > 0 { attributes[GenAIAttributes.cacheReadInputTokens] = usage.cachedInputTokens }
        if usage.cacheWriteInputTokens > 0 {
            attributes[GenAIAttributes.cacheCreationInputTokens] = usage.cacheWriteInputTokens
        }
        if usage.reasoningTokens > 0 { attributes[GenAIAttributes.reasoningOutputTokens] = usage.reasoningTokens }
        attributes[GenAIAttributes.usageEstimated] = usage.isEstimated
        // A decimal string: exact, where a double would round nano-units.
        attributes[GenAIAttributes.cost] = record.cost.decimalString
        attributes[GenAIAttributes.currency] = record.cost.currency
        attributes[GenAIAttributes.attempt] = record.attempts.count
        if let errorClass = record.errorClass {
            attributes[GenAIAttributes.errorType] = errorClass.rawValue
            span.setStatus(SpanStatus(code: .error))
        }
        span.attributes = attributes
        span.end()
    }

    /// Ends the span of a request the ledger does not book (a model list).
    func finishUnbooked(status: Int) {
        if span.isRecording {
            span.attributes = [
                GenAIAttributes.operationName: .string(operation), GenAIAttributes.httpStatus: .int64(Int64(status)),
            ]
        }
        span.end()
    }

    static func hostAndPort(_ url: String) -> (String, Int)? {
        guard let schemeEnd = url.range(of: "://") else { return nil }
        let rest = url[schemeEnd.upperBound...]
        // Never credentials written into a base URL (`user:password@host`).
        let authority = rest.prefix { $0 != "/" }.split(separator: "@").last ?? ""
        let https = url.hasPrefix("https")
        if let colon = authority.lastIndex(of: ":"), let port = Int(authority[authority.index(after: colon)...]) {
            return (String(authority[..<colon]), port)
        }
        return (String(authority), https ? 443 : 80)
    }
}

/// Reads trace context from a list of header pairs.
struct HeaderListExtractor: Extractor {
    func extract(key: String, from carrier: [(String, String)]) -> String? {
        carrier.first { $0.0 == key }?.1
    }
}

/// Writes trace context into a list of header pairs (an upstream request's, a response's).
struct HeaderListInjector: Injector {
    func inject(_ value: String, forKey key: String, into carrier: inout [(String, String)]) {
        carrier.removeAll { $0.0.lowercased() == key.lowercased() }
        carrier.append((key, value))
    }
}
