import HTTPTypes
import Providers
import Routing
import SwitchyardCore
import Synchronization
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
    /// `tracer` and `span` when the tracer is ours (found once, not cast at every step).
    private let recorder: SpanRecorder?
    private let recorded: RecordedSpan?
    /// `gen_ai.operation.name` of the request's endpoint.
    let operation: String
    /// The `traceparent` (and `tracestate`) of the request's span, for the response.
    let responseHeaders: [(String, String)]
    /// The trace's id (32 hex digits), for the usage record.
    let traceID: String?
    /// The request span's id (16 hex digits), for the request's log line.
    let spanID: String?
    private let providers: [String: TracedProvider]
    /// What earlier stages learnt for the request's span (parameters, the answer's id and finish
    /// reasons), written with the usage record when the span ends.
    private let gathered = Mutex(Gathered())

    struct Gathered: Sendable {
        var maxTokens: Int?
        var temperature: Double?
        var topP: Double?
        var response = ResponseFacts()
    }

    /// `parent`: the client's trace context, already checked (`TraceSampler.parent`); nil starts a trace.
    /// Generic over the tracer so that, for the gateway's own recorder, finding it is no cast at run time.
    init<SomeTracer: Tracer>(
        tracer: SomeTracer, parent: TraceSampler.Parent?, endpoint: String, providers: [String: TracedProvider],
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
            self.recorder = recorder
            self.recorded = span
            Self.propagate(span.identity, into: &headers)
        } else {
            self.recorder = nil
            self.recorded = nil
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
        self.spanID = traceparent.map(TraceSampler.spanID(ofTraceparent:))
    }

    /// Adds `list` (names not set before on `span`): appended on our recorder's spans, through
    /// the API's dictionary on any other tracer's.
    private static func set(_ list: [(String, SpanAttribute)], on span: any Span) {
        if let recorded = span as? RecordedSpan { return recorded.addAttributes(list) }
        var attributes = span.attributes
        for (name, value) in list { attributes[name] = value }
        span.attributes = attributes
    }

    /// Gives `facts` to `span`: kept as they are on our recorder's spans, written out as
    /// attributes on any other tracer's.
    private static func set(_ facts: some SpanFacts, on span: any Span) {
        if let recorded = span as? RecordedSpan { return recorded.setFacts(facts) }
        var list = SpanAttributeWriter.listing()
        facts.write(to: &list)
        set(list.pairs ?? [], on: span)
    }

    /// `traceparent` (and `tracestate`) for `identity`, replacing any already in `headers`.
    private static func propagate(_ identity: SpanIdentity, into headers: inout [(String, String)]) {
        let injector = HeaderListInjector()
        injector.inject(identity.traceparent, forKey: "traceparent", into: &headers)
        if let state = identity.traceState { injector.inject(state, forKey: "tracestate", into: &headers) }
    }

    /// Starts an attempt's CLIENT span; its context goes into the upstream request's headers.
    /// Its attributes are written when it ends (`endAttempt`).
    func startAttempt(_ deployment: Deployment, request: inout UpstreamRequest) -> any Span {
        let name = "\(operation) \(deployment.model)"
        if let recorder, let parent = recorded {
            let recorded = recorder.start(
                name, kind: .client, parent: parent.identity, startNanos: DefaultTracerClock.now.nanosecondsSinceEpoch)
            Self.propagate(recorded.identity, into: &request.headers)
            return recorded
        }
        let attempt = tracer.startSpan(name, context: span.context, ofKind: .client)
        tracer.inject(attempt.context, into: &request.headers, using: HeaderListInjector())
        return attempt
    }

    /// Ends an attempt's span with what the upstream answered. An attempt cancelled (its client
    /// left, or it lost a hedge) says nothing against the upstream: not an error span.
    func endAttempt(
        _ attempt: any Span, deployment: Deployment, hedged: Bool, number: Int, status: Int?, errorClass: ErrorClass?
    ) {
        guard attempt.isRecording else { return attempt.end() }
        let facts = AttemptSpanFacts(
            operation: operation, model: deployment.model, deployment: deployment.name, provider: deployment.provider,
            traced: providers[deployment.provider], number: number, hedged: hedged, status: status,
            errorClass: errorClass)
        if let errorClass, errorClass != .clientCancelled { attempt.setStatus(SpanStatus(code: .error)) }
        Self.set(facts, on: attempt)
        attempt.end()
    }

    /// The client's generation parameters (`gen_ai.request.*`), as it sent them.
    func requestParameters(_ json: JSONValue, maxTokens: Int?) {
        guard span.isRecording else { return }
        func number(_ member: String) -> Double? {
            guard case .number(let text)? = json[member] else { return nil }
            return JSONNumberText.double(text)
        }
        let (temperature, topP) = (number("temperature"), number("top_p"))
        gathered.withLock {
            $0.maxTokens = maxTokens
            $0.temperature = temperature
            $0.topP = topP
        }
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
                OpenAIChunkScanner.summarize(raw: $0, collectingFinishReasons: true, countingOutput: false).finishReasons
            }
        }
        response(facts)
    }

    /// The generation parameters of a request decoded into canonical form (`/v1/messages`,
    /// `/v1/responses`), as the client sent them.
    func requestParameters(_ request: CanonicalRequest) {
        guard span.isRecording else { return }
        gathered.withLock {
            $0.maxTokens = request.maxOutputTokens
            $0.temperature = request.temperature.flatMap(JSONNumberText.double)
            $0.topP = request.topP.flatMap(JSONNumberText.double)
        }
    }

    /// Content goes into a span only up to this size (each of instructions, prompt and answer):
    /// a batch of 512 such spans stays under a collector's usual 20 MiB request limit.
    static let contentLimit = 8 * 1024

    /// The prompt (after guardrail redaction) in the conventions' message schema, when a policy
    /// opts in; nil when it could not be read into canonical form (then said to be omitted).
    func inputContent(_ request: CanonicalRequest?) {
        guard span.isRecording else { return }
        var list: [(String, SpanAttribute)] = []
        if let request {
            if let system = TracedContent.systemInstructions(request) {
                list.append(Self.content(GenAIAttributes.systemInstructions, system, omitted: "system"))
            }
            list.append(Self.content(GenAIAttributes.inputMessages, TracedContent.inputMessages(request), omitted: "input"))
        } else {
            list.append((GenAIAttributes.contentOmitted + ".input", .bool(true)))
        }
        Self.set(list, on: span)
    }

    /// The answer in the conventions' message schema (`TracedContent.outputMessages`), when a
    /// policy opts in; nil when it could not be read or a stream's outgrew the limit (then said to
    /// be omitted).
    func outputContent(_ messages: [UInt8]?) {
        guard span.isRecording else { return }
        let attribute =
            messages.map { Self.content(GenAIAttributes.outputMessages, $0, omitted: "output") }
            ?? (GenAIAttributes.contentOmitted + ".output", .bool(true))
        Self.set([attribute], on: span)
    }

    private static func content(_ name: String, _ json: [UInt8], omitted: String) -> (String, SpanAttribute) {
        guard json.count <= contentLimit else { return (GenAIAttributes.contentOmitted + "." + omitted, .bool(true)) }
        return (name, .string(String(decoding: json, as: UTF8.self)))
    }

    /// What the answer said of itself (a stream's, or `responseFacts`'s reading of a body).
    func response(_ facts: ResponseFacts) {
        guard span.isRecording else { return }
        gathered.withLock { $0.response = facts }
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
            case .ejected: "ejected"
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
    /// record does not keep), where, what it used and cost. The attributes are written from the
    /// record when the span is exported (`RequestSpanFacts`).
    /// `record` is taken, not copied: settlement is done with it (its strings are not retained
    /// again for the span).
    func finish(_ record: consuming UsageRecord, project: String? = nil) {
        guard span.isRecording else { return span.end() }
        if let route = record.route { span.operationName = "\(operation) \(route)" }
        if record.errorClass != nil { span.setStatus(SpanStatus(code: .error)) }
        let providerKind = record.provider.map { providers[$0]?.kind ?? $0 }
        let facts = RequestSpanFacts(
            record: record, project: project, operation: operation, providerKind: providerKind,
            gathered: gathered.withLock { $0 })
        if let recorded { recorded.setFacts(facts) } else { Self.set(facts, on: span) }
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
