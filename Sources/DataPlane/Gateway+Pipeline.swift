import HTTPTypes
import Hummingbird
import Ledger
import SwitchyardCore
import Tracing
import WireFormats

/// The request pipeline. Every data-plane endpoint runs the same stages, in this order:
///
///     authenticate the key, before the body is read (`authenticate`)
///     guard       content guardrails on the raw body (`ContentGuard`)
///     decode      the body read whole by the strict parser, into the endpoint's request type
///                 (`receive`, `receiveCanonical`)
///     authorize   the policy rules that need only the request (`authorize`)
///     plan        the route and its candidates for this request (`planRoute`)
///     admit       worst-case cost, rate limits, budgets (`admitGoverned`)
///     execute     attempts, retries, hedging, the fair-share queue (`execute`)
///     relay       the answer, whole or streamed, in the client's format
///     settle      usage, cost, budget, ledger, metrics, log (`Settlement`); the answer's last
///                 bytes wait until the usage record is on local disk (`UsageReceipt`)
///
/// An endpoint gives `serve` two functions: `prepare` runs the stages up to execute and throws
/// an `OpenAIError` at the first refusal; `relay` answers from what `prepare` returned. `serve`
/// is the one place where an error becomes the client's response, and it hands `relay` the
/// request's `Settlement`, which the compiler lets it consume once and makes it consume: `relay`
/// answers with a `SettledResponse`, which only settling yields.
extension Gateway {
    func serve<Exchange>(
        _ request: Request, endpoint: String, format: ClientFormat,
        prepare: (Request, inout RequestContext) async throws(OpenAIError) -> Exchange,
        relay: (Exchange, RequestContext, consuming Settlement) -> SettledResponse
    ) async -> Response {
        var context = RequestContext(endpoint: endpoint, format: format)
        if tracer != nil {
            // Decided now, acted on once the key is known (`startTrace`).
            let decision = traceSampler.decide(request.headers)
            context.traceDecision = decision
            context.arrival = DefaultTracerClock.now
            // The client's context goes on (to the upstream, into the record) until a trace of ours
            // replaces it: a request refused before its key is accepted still names the client's trace.
            switch decision {
            case .skip(let parent), .trace(let parent): context.untracedParent = parent
            }
        }
        let settlement = Settlement()
        // A record of every answer a client receives is on local disk before the answer leaves
        // (a killed process loses none); a stream's relay waits for it before its last bytes.
        let exchange: Exchange
        do {
            exchange = try await prepare(request, &context)
        } catch {
            var refusal = settlement.refuse(error, context, gateway: self)
            await refusal.receipt.written()
            Self.addTraceContext(to: &refusal.response, context.trace ?? refusal.keptByTail)
            return refusal.response
        }
        var answer = relay(exchange, context, settlement)
        await answer.receipt.written()
        Self.addTraceContext(to: &answer.response, context.trace ?? answer.keptByTail)
        return answer.response
    }

    /// Starts the request's trace when its key has been accepted, if tracing decided to keep it:
    /// an unauthenticated request is never traced, whatever its `traceparent` asks (a flood of
    /// them would otherwise reach the collector). The span still starts at the request's arrival.
    func startTrace(_ context: inout RequestContext) {
        guard let tracer, case .trace(let parent)? = context.traceDecision, let arrival = context.arrival else { return }
        context.trace = RequestTrace(
            tracer: tracer, parent: parent, endpoint: context.endpoint, providers: tracedProviders, at: arrival)
        context.untracedParent = nil
    }

    /// The tail rule: a request head sampling dropped is traced after all, at settlement, when
    /// the gateway or a provider failed it or one of its attempts, or it was slow
    /// (`keep_slower_than_ms`, against the first token of a stream); at most `keep_per_second`
    /// such traces a second. Only authenticated requests, and not a client's own faults (a
    /// refused key, an invalid request, its rate limit or budget): a tenant cannot fill the
    /// export queue with cheap refusals. Its attempts are listed on the request span, which
    /// alone is recorded.
    func tailTrace(_ context: RequestContext, errorClass: ErrorClass?, elapsed: Duration) -> RequestTrace? {
        // Settled requests that already have a trace (every one at ratio 1) leave at the first check.
        guard context.trace == nil, let tail = traceTail, context.principal != nil, let arrival = context.arrival,
            let tracer
        else { return nil }
        let failed =
            errorClass.map(TraceTail.isWorthKeeping) ?? false
            || context.attempts.contains { $0.errorClass.map(TraceTail.isWorthKeeping) ?? false }
        let answered = context.streamed ? context.timeToFirstToken ?? elapsed : elapsed
        guard failed || answered > tail.slowerThan, tail.allowance.take() else { return nil }
        let trace = RequestTrace(
            tracer: tracer, parent: context.untracedParent, endpoint: context.endpoint, providers: tracedProviders,
            at: arrival)
        trace.keptByTail(attempts: context.attempts)
        return trace
    }

    /// Adds the request's `traceparent` to its response, so a client can find its trace (in
    /// place: the response is not copied).
    static func addTraceContext(to response: inout Response, _ trace: RequestTrace?) {
        guard let trace else { return }
        for (name, value) in trace.responseHeaders {
            // The two names a trace answers with, made once; another (a plugged-in tracer's) is checked here.
            let field =
                switch name {
                case "traceparent": HTTPField.Name.traceParentField
                case "tracestate": HTTPField.Name.traceStateField
                default: HTTPField.Name(name)
                }
            // Appended, not set: the gateway builds every response itself and none carries trace
            // context already (setting searches and rebuilds the field list).
            if let field { response.headers.append(HTTPField(name: field, value: value)) }
        }
    }
}
