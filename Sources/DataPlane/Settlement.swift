import Hummingbird
import Ledger
import SwitchyardCore
import Synchronization
import WireFormats

/// The right to settle one request: book its usage record, give back what governance holds for
/// it, update the metrics and write its log line. Every request has one, made when it arrives.
///
/// Exactly once, checked by the compiler: noncopyable, so settling consumes it and a second
/// settlement does not compile (a stage that settled cannot then throw into the refusal that
/// would settle again); and a relay must return a `SettledResponse`, which only consuming a
/// settlement yields, so a path that never settles does not compile either. A stream, answered
/// before it ends, hands its settlement to the relay as a `StreamSettlement`, which settles at
/// most once at run time.
struct Settlement: ~Copyable {
    /// Settles a request that was answered; `SettledResponse(answer, settled)` then carries it.
    consuming func settle(
        _ context: RequestContext, status: Int, errorClass: ErrorClass?, usage: TokenUsage, gateway: Gateway
    ) -> Settled {
        discard self
        return Self.book(context, status: status, errorClass: errorClass, usage: usage, gateway: gateway)
    }

    /// Settles a refused or failed request and writes its answer in the client's wire format:
    /// the one place where an error becomes a response.
    consuming func refuse(
        _ error: OpenAIError, _ context: RequestContext, usage: TokenUsage = .none, gateway: Gateway
    ) -> SettledResponse {
        discard self
        let settled = Self.book(context, status: error.status, errorClass: error.errorClass, usage: usage, gateway: gateway)
        let body =
            switch context.format {
            case .openAIChat, .openAIResponses: error.body()
            case .anthropicMessages: AnthropicFormat.errorBody(status: error.status, message: error.message)
            }
        var response = Response.json(status: .init(code: error.status), body)
        response.headers[.requestID] = context.id
        if let seconds = error.retryAfterSeconds { response.headers[.retryAfter] = String(seconds) }
        gateway.addRateLimitHeaders(&response, context.rateLimitStatus)
        if !context.attempts.isEmpty { response.headers[.switchyardAttempts] = String(context.attempts.count) }
        if let route = context.route { response.headers[.switchyardRoute] = route }
        if error.status == 401 { response.headers[.wwwAuthenticate] = "Bearer" }
        return SettledResponse(response, settled)
    }

    /// For a request the ledger does not book (a model list): nothing was used.
    consuming func bookNothing(_ context: RequestContext) -> Settled {
        discard self
        context.trace?.finishUnbooked(status: 200)
        return Settled(.immediate, keptByTail: nil)
    }

    /// For a stream: `relay` answers at once and settles when the stream ends, after the answer
    /// has begun.
    consuming func handOff(to relay: (StreamSettlement) -> Response) -> SettledResponse {
        discard self
        return SettledResponse(relay(StreamSettlement()), Settled(.immediate, keptByTail: nil))
    }

    deinit {
        // Unreachable: `serve` only ends with the `SettledResponse` its relay returns.
        assertionFailure("a request's settlement was dropped without settling it")
    }

    /// Books the request. The receipt says when the record is on local disk (the answer's last
    /// bytes wait for it); a trace the tail rule kept now comes back, for the answer to name.
    fileprivate static func book(
        _ context: RequestContext, status: Int, errorClass: ErrorClass?, usage: TokenUsage, gateway: Gateway
    ) -> Settled {
        let elapsed = ContinuousClock.now - context.startInstant
        let trace = context.trace ?? gateway.tailTrace(context, errorClass: errorClass, elapsed: elapsed)
        var record = context.usageRecord(
            status: status, errorClass: errorClass, usage: usage, elapsed: elapsed,
            replica: gateway.replicaID)
        if let trace { record.traceID = trace.traceID }
        if let admission = context.admission, let principal = context.principal {
            gateway.governor.release(admission, principal: principal, usage: usage, cost: record.cost)
        }
        if let run = context.runScope {
            gateway.governor.settleRun(
                run, cost: record.cost, fingerprint: context.promptFingerprint, answered: status < 400)
        }
        let receipt = gateway.usageSink.record(record)
        gateway.observer.observe(
            record, latency: elapsed, timeToFirstToken: context.timeToFirstToken, spanID: trace?.spanID)
        trace?.finish(record, project: context.principal?.project)
        return Settled(receipt, keptByTail: context.trace == nil ? trace : nil)
    }
}

/// Proof that a request's settlement was consumed: only `Settlement` makes one.
struct Settled {
    let receipt: UsageReceipt
    /// The trace the tail rule kept at settlement (the request had none before).
    let keptByTail: RequestTrace?

    fileprivate init(_ receipt: UsageReceipt, keptByTail: RequestTrace?) {
        self.receipt = receipt
        self.keptByTail = keptByTail
    }
}

/// A response whose request has been settled (or handed to its stream's relay, which settles
/// it when the stream ends): what every relay returns to `serve`.
struct SettledResponse {
    var response: Response
    /// A stream's record is booked by its relay, later: this one's is then `.immediate`.
    let receipt: UsageReceipt
    /// A trace the tail rule kept when the request settled before its answer was sent: the
    /// answer names it, as it would a trace kept from the start. (A stream's head has left by
    /// the time it settles.)
    let keptByTail: RequestTrace?

    init(_ response: Response, _ settled: Settled) {
        self.response = response
        self.receipt = settled.receipt
        self.keptByTail = settled.keptByTail
    }
}

/// A stream's settlement, held by its relay, whose loop ends each stream on exactly one path. The
/// compiler cannot check that across the escaping response body, so the flag makes a second
/// settlement a no-op (and a debug assertion) instead of a second record.
final class StreamSettlement: Sendable {
    private let settled = Atomic<Bool>(false)

    @discardableResult
    func settle(
        _ context: RequestContext, status: Int, errorClass: ErrorClass?, usage: TokenUsage, gateway: Gateway
    ) -> UsageReceipt {
        guard !settled.exchange(true, ordering: .acquiringAndReleasing) else {
            assertionFailure("a stream was settled twice")
            return .immediate
        }
        return Settlement.book(context, status: status, errorClass: errorClass, usage: usage, gateway: gateway).receipt
    }
}
