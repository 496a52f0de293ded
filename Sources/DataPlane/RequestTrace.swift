import HTTPTypes
import Providers
import Routing
import SwitchyardCore
import Telemetry
import Tracing
import WireFormats

/// The trace of one request: a SERVER span from arrival to settlement, continued from the
/// client's `traceparent`, and a CLIENT span per upstream attempt, whose context goes to the
/// upstream in its own `traceparent`. Made only when tracing is on (`Gateway.tracer`): with it
/// off, a request pays one nil check per stage.
///
/// Attributes are set as lists of distinct names (`set`): on the gateway's own spans that is an
/// append, where the API's dictionary hashed every name.
final class RequestTrace: Sendable {
    private let tracer: any Tracer
    private let span: any Span
    /// `gen_ai.operation.name` of the request's endpoint.
    let operation: String
    /// The `traceparent` (and `tracestate`) of the request's span, for the response.
    let responseHeaders: [(String, String)]
    /// The trace's id (32 hex digits), for the usage record.
    let traceID: String?
    /// The request span's id (16 hex digits), for the request's log line.
    let spanID: String?
    private let providers: [String: TracedProvider]

    /// `parent`: the client's trace context, already checked (`TraceSampler.parent`); nil starts a trace.
    init(
        tracer: any Tracer, parent: TraceSampler.Parent?, endpoint: String, providers: [String: TracedProvider],
        at arrival: DefaultTracerClock.Timestamp
    ) {
        self.tracer = tracer
        self.operation = GenAIAttributes.operation(endpoint: endpoint)
        self.providers = providers
        var headers: [(String, String)] = []
        if let recorder = tracer as? SpanRecorder {
            // Our recorder: the span names its parent directly (no context, no generic propagation).
            let span = recorder.start(
                operation, kind: .server, parent: parent?.identity, startNanos: arrival.nanosecondsSinceEpoch)
            self.span = span
            Self.propagate(span.identity, into: &headers)
        } else {
            var context = ServiceContext.topLevel
            // Only the two checked fields reach the propagator, never the request's other headers
            // (which it would log, with the caller's key, if it could not parse them).
            if let parent { tracer.extract(parent.headers, into: &context, using: HeaderListExtractor()) }
            let span = tracer.startSpan(operation, context: context, ofKind: .server, at: arrival)
            self.span = span
            tracer.inject(span.context, into: &headers, using: HeaderListInjector())
        }
        self.responseHeaders = headers
        let traceparent = headers.first { $0.0 == "traceparent" }?.1
        self.traceID = traceparent.map(TraceSampler.traceID(ofTraceparent:))
        self.spanID = traceparent.map { String($0.dropFirst(36).prefix(16)) }
    }

    /// Adds `list` (names not set before on `span`): appended on our recorder's spans, through
    /// the API's dictionary on any other tracer's.
    private static func set(_ list: [(String, SpanAttribute)], on span: any Span) {
        if let recorded = span as? RecordedSpan { return recorded.addAttributes(list) }
        var attributes = span.attributes
        for (name, value) in list { attributes[name] = value }
        span.attributes = attributes
    }

    /// `traceparent` (and `tracestate`) for `identity`, replacing any already in `headers`.
    private static func propagate(_ identity: SpanIdentity, into headers: inout [(String, String)]) {
        let injector = HeaderListInjector()
        injector.inject(identity.traceparent, forKey: "traceparent", into: &headers)
        if let state = identity.traceState { injector.inject(state, forKey: "tracestate", into: &headers) }
    }

    /// Starts an attempt's CLIENT span; its context goes into the upstream request's headers.
    func startAttempt(_ deployment: Deployment, hedged: Bool, number: Int, request: inout UpstreamRequest) -> any Span {
        let name = "\(operation) \(deployment.model)"
        let attempt: any Span
        if let recorder = tracer as? SpanRecorder, let parent = span as? RecordedSpan {
            let recorded = recorder.start(
                name, kind: .client, parent: parent.identity, startNanos: DefaultTracerClock.now.nanosecondsSinceEpoch)
            Self.propagate(recorded.identity, into: &request.headers)
            attempt = recorded
        } else {
            attempt = tracer.startSpan(name, context: span.context, ofKind: .client)
            tracer.inject(attempt.context, into: &request.headers, using: HeaderListInjector())
        }
        guard attempt.isRecording else { return attempt }
        let provider = providers[deployment.provider]
        var list: [(String, SpanAttribute)] = [
            (GenAIAttributes.operationName, .string(operation)),
            (GenAIAttributes.requestModel, .string(deployment.model)),
            (GenAIAttributes.deployment, .string(deployment.name)),
            (GenAIAttributes.providerName, .string(provider?.kind ?? deployment.provider)),
            (GenAIAttributes.provider, .string(deployment.provider)),
            (GenAIAttributes.attempt, .int64(Int64(number))),
        ]
        if hedged { list.append((GenAIAttributes.hedged, .bool(true))) }
        if let provider, let host = provider.host {
            list.append((GenAIAttributes.serverAddress, .string(host)))
            list.append((GenAIAttributes.serverPort, .int64(Int64(provider.port))))
        }
        Self.set(list, on: attempt)
        return attempt
    }

    /// Ends an attempt's span with what the upstream answered. An attempt cancelled (its client
    /// left, or it lost a hedge) says nothing against the upstream: not an error span.
    static func endAttempt(_ attempt: any Span, status: Int?, errorClass: ErrorClass?) {
        guard attempt.isRecording else { return attempt.end() }
        var list: [(String, SpanAttribute)] = []
        if let status { list.append((GenAIAttributes.httpStatus, .int64(Int64(status)))) }
        if errorClass == .clientCancelled {
            list.append((GenAIAttributes.cancelled, .bool(true)))
        } else if let errorClass {
            list.append((GenAIAttributes.errorType, .string(errorClass.rawValue)))
            attempt.setStatus(SpanStatus(code: .error))
        }
        set(list, on: attempt)
        attempt.end()
    }

    /// The client's generation parameters (`gen_ai.request.*`), as it sent them.
    func requestParameters(_ json: JSONValue, maxTokens: Int?) {
        guard span.isRecording else { return }
        var list: [(String, SpanAttribute)] = []
        if let maxTokens { list.append((GenAIAttributes.requestMaxTokens, .int64(Int64(maxTokens)))) }
        for (member, name) in [("temperature", GenAIAttributes.requestTemperature), ("top_p", GenAIAttributes.requestTopP)] {
            if case .number(let text)? = json[member], let value = Double(text) { list.append((name, .double(value))) }
        }
        Self.set(list, on: span)
    }

    /// What the upstream said of its answer (`gen_ai.response.id`, `finish_reasons`), read from
    /// a non-streamed OpenAI-format body (its members as the usage reading found them): its `id`,
    /// and the `finish_reason`s the chunk scanner finds in its `choices` (no tree is built of the
    /// answer; traced requests only).
    func responseFacts(_ editor: JSONObjectEditor) {
        guard span.isRecording else { return }
        var facts = ResponseFacts(id: ResponseFacts.id(in: editor))
        if let choices = editor.value(of: "choices") {
            facts.finishReasons = choices.withUnsafeBytes {
                OpenAIChunkScanner.summarize(raw: $0, collectingFinishReasons: true).finishReasons
            }
        }
        response(facts)
    }

    /// Content goes into a span only up to this size (each of prompt and answer): a batch of 512
    /// such spans stays under a collector's usual 20 MiB request limit.
    static let contentLimit = 8 * 1024

    /// The prompt (`messages` as the client sent it, after guardrail redaction), when a policy opts in.
    func inputContent(_ messages: ArraySlice<UInt8>?) {
        guard span.isRecording, let messages else { return }
        Self.set([Self.content(GenAIAttributes.inputMessages, messages, omitted: "input")], on: span)
    }

    /// The answer's `choices` as the upstream sent them (non-streamed), when a policy opts in.
    func outputContent(_ response: JSONObjectEditor) {
        guard span.isRecording, let choices = response.value(of: "choices") else { return }
        Self.set([Self.content(GenAIAttributes.outputMessages, choices, omitted: "output")], on: span)
    }

    private static func content(_ name: String, _ json: ArraySlice<UInt8>, omitted: String) -> (String, SpanAttribute) {
        guard json.count <= contentLimit else { return (GenAIAttributes.contentOmitted + "." + omitted, .bool(true)) }
        return (name, .string(String(decoding: json, as: UTF8.self)))
    }

    /// What a stream said of its answer.
    func response(_ facts: ResponseFacts) {
        guard span.isRecording else { return }
        var list: [(String, SpanAttribute)] = []
        if let id = facts.id { list.append((GenAIAttributes.responseID, .string(id))) }
        if !facts.finishReasons.isEmpty {
            list.append((GenAIAttributes.responseFinishReasons, .stringArray(facts.finishReasons)))
        }
        Self.set(list, on: span)
    }

    /// The wait for a slot in a deployment's fair-share queue, as an INTERNAL child span.
    func startQueueWait(_ deployment: Deployment) -> any Span {
        let wait = tracer.startSpan("switchyard.queue_wait", context: span.context, ofKind: .internal)
        Self.set([(GenAIAttributes.deployment, .string(deployment.name))], on: wait)
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
        set([(GenAIAttributes.queueOutcome, .string(outcome))], on: wait)
        if reason != nil { wait.setStatus(SpanStatus(code: .error)) }
        wait.end()
    }

    /// Marks a trace the tail rule kept after the request (its attempts made no spans: they are
    /// listed on the request span, in order).
    func keptByTail(attempts: [Attempt]) {
        guard span.isRecording else { return }
        Self.set(
            [
                (GenAIAttributes.keptBy, .string("tail")),
                (GenAIAttributes.attemptDeployments, .stringArray(attempts.map(\.deployment))),
                (GenAIAttributes.attemptErrors, .stringArray(attempts.map { $0.errorClass?.rawValue ?? "" })),
                (GenAIAttributes.attemptStatuses, .int64Array(attempts.map { Int64($0.status ?? 0) })),
                (GenAIAttributes.attemptLatencies, .int64Array(attempts.map { $0.latencyMicros / 1000 })),
            ], on: span)
    }

    /// A decision a stage took (a guardrail, a policy), as an event on the request's span.
    func record(_ event: String, _ attributes: SpanAttributes = [:]) {
        span.addEvent(SpanEvent(name: event, attributes: attributes))
    }

    /// Ends the request's span with its usage record: who (with the key's project, which the
    /// record does not keep), where, what it used and cost.
    func finish(_ record: UsageRecord, project: String? = nil) {
        guard span.isRecording else { return span.end() }
        var list: [(String, SpanAttribute)] = []
        list.reserveCapacity(28)
        if let route = record.route {
            span.operationName = "\(operation) \(route)"
            list.append((GenAIAttributes.requestModel, .string(route)))
            list.append((GenAIAttributes.route, .string(route)))
        }
        list.append((GenAIAttributes.operationName, .string(operation)))
        list.append((GenAIAttributes.requestID, .string(record.id)))
        list.append((GenAIAttributes.requestStream, .bool(record.streamed)))
        list.append((GenAIAttributes.httpStatus, .int64(Int64(record.status))))
        if let model = record.upstreamModel { list.append((GenAIAttributes.responseModel, .string(model))) }
        if let provider = record.provider {
            list.append((GenAIAttributes.providerName, .string(providers[provider]?.kind ?? provider)))
            list.append((GenAIAttributes.provider, .string(provider)))
        }
        if let deployment = record.deployment { list.append((GenAIAttributes.deployment, .string(deployment))) }
        if let tenant = record.tenant { list.append((GenAIAttributes.tenant, .string(tenant))) }
        if let project { list.append((GenAIAttributes.project, .string(project))) }
        if let agent = record.agent { list.append((GenAIAttributes.agent, .string(agent))) }
        if let keyID = record.keyID { list.append((GenAIAttributes.keyID, .string(keyID))) }
        if let run = record.run {
            list.append((GenAIAttributes.runID, .string(run)))
            list.append((GenAIAttributes.conversationID, .string(run)))
            if let step = record.runStep { list.append((GenAIAttributes.runStep, .string(step))) }
            if record.runLoop { list.append((GenAIAttributes.runLoop, .bool(true))) }
        }
        let usage = record.usage
        list.append((GenAIAttributes.inputTokens, .int64(Int64(usage.inputTokens))))
        list.append((GenAIAttributes.outputTokens, .int64(Int64(usage.outputTokens))))
        if usage.cachedInputTokens > 0 {
            list.append((GenAIAttributes.cacheReadInputTokens, .int64(Int64(usage.cachedInputTokens))))
        }
        if usage.cacheWriteInputTokens > 0 {
            list.append((GenAIAttributes.cacheCreationInputTokens, .int64(Int64(usage.cacheWriteInputTokens))))
        }
        if usage.reasoningTokens > 0 {
            list.append((GenAIAttributes.reasoningOutputTokens, .int64(Int64(usage.reasoningTokens))))
        }
        list.append((GenAIAttributes.usageEstimated, .bool(usage.isEstimated)))
        // A decimal string: exact, where a double would round nano-units.
        list.append((GenAIAttributes.cost, .string(record.cost.decimalString)))
        list.append((GenAIAttributes.currency, .string(record.cost.currency)))
        list.append((GenAIAttributes.attempt, .int64(Int64(record.attempts.count))))
        if let errorClass = record.errorClass {
            list.append((GenAIAttributes.errorType, .string(errorClass.rawValue)))
            span.setStatus(SpanStatus(code: .error))
        }
        Self.set(list, on: span)
        span.end()
    }

    /// Ends the span of a request the ledger does not book (a model list).
    func finishUnbooked(status: Int) {
        if span.isRecording {
            Self.set(
                [(GenAIAttributes.operationName, .string(operation)), (GenAIAttributes.httpStatus, .int64(Int64(status)))],
                on: span)
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
        // `key` is lowercase ("traceparent", "tracestate"); a name is lowercased only when its length matches.
        carrier.removeAll { $0.0.utf8.count == key.utf8.count && $0.0.lowercased() == key }
        carrier.append((key, value))
    }
}

/// What a request's spans say of a provider: its kind (`gen_ai.provider.name`; the configured
/// name goes in `switchyard.provider`) and the address its base URL names (`server.*`), worked out
/// once when the gateway starts, not per attempt.
struct TracedProvider: Sendable {
    let kind: String
    let host: String?
    let port: Int

    init(_ provider: Provider) {
        kind = GenAIAttributes.providerName(of: provider.kind)
        let address = RequestTrace.hostAndPort(provider.baseURL)
        host = address?.0
        port = address?.1 ?? 0
    }
}
