import Governance
import Hummingbird
import Ledger
import NIOCore
import Providers
import SwitchyardCore
import WireFormats

extension Gateway {
    /// The one stream relay, for every pair of client and provider formats (`relay` says how the
    /// events change between them). It owns, once for all of them: the deployment's idle
    /// deadline, the kill switch, the client leaving, an upstream that ends early or reports an
    /// error, the closing events, and the stream's settlement. Nothing is retried once bytes
    /// reached the client: a failed stream ends with an error event in the client's format, which
    /// its SDK raises.
    func relayStream(
        _ upstream: UpstreamSuccess, _ relay: some StreamEventRelay, estimatedInputTokens: Int, context: RequestContext,
        settlement: StreamSettlement
    ) -> Response {
        let idleLimit = upstream.idleLimit
        let body = ResponseBody { [self] writer in
            var context = context
            var relay = relay
            var failure: (ErrorClass, String)?
            var clientGone = false
            var killedBy: KillSwitch?
            var overrun: BudgetRefusal?
            // What reached the client when a budget cut the stream: the piece that would have
            // passed the cap is not sent, and not booked.
            var deliveredAtCut = TokenUsage.none
            // Under a budget that cuts (`on_exceed: cut`), the running cost is checked piece by piece.
            let watchesCost = (context.admission?.covered ?? .max) != .max
            let runScope = context.runScope
            var pieces = StreamPieces(upstream.response.body.makeAsyncIterator())
            do {
                // Each piece must arrive within the deployment's idle timeout.
                while let piece = try await pieces.next(within: idleLimit) {
                    if let kill = governor.kills.stopping(context.principal, run: runScope) {
                        killedBy = kill
                        break
                    }
                    let delivered = watchesCost ? relay.tokenUsage(estimatedInputTokens: estimatedInputTokens) : .none
                    let step = relay.relay(piece)
                    if let stepFailure = step.failure {
                        // What was read before the failure still reaches the client.
                        if !step.bytes.isEmpty { try? await writer.write(ByteBuffer(bytes: step.bytes)) }
                        failure = stepFailure
                        break
                    }
                    if step.bytes.isEmpty { continue }
                    if watchesCost,
                        let refusal = await budgetOverrun(
                            relay, upstream: upstream, estimatedInputTokens: estimatedInputTokens, context: &context)
                    {
                        overrun = refusal
                        deliveredAtCut = delivered
                        break
                    }
                    if context.timeToFirstToken == nil {
                        context.timeToFirstToken = ContinuousClock.now - context.startInstant
                    }
                    do {
                        try await writer.write(ByteBuffer(bytes: step.bytes))
                    } catch {
                        clientGone = true
                        break
                    }
                }
            } catch {
                let classified = HTTPClientTransport.classify(error)
                failure = (classified.errorClass == .upstreamTimeout ? .upstreamTimeout : .streamInterrupted, classified.message)
            }
            // Leaving the loop dropped the upstream body, which cancels the upstream request.
            let usage = overrun == nil ? relay.tokenUsage(estimatedInputTokens: estimatedInputTokens) : deliveredAtCut
            if let trace = context.trace {
                trace.response(relay.responseFacts)
                if let transcript = relay.transcript { trace.outputContent(transcript.outputMessages) }
            }
            if let overrun {
                await settleStream(upstream, .budgetCut, usage: usage, context: &context, settlement: settlement)
                    .written()
                try? await writer.write(ByteBuffer(bytes: relay.errorEvent(OpenAIError(.budget(overrun)))))
                try? await writer.finish(nil)
                return
            }
            if let killedBy {
                await settleStream(upstream, .killed, usage: usage, context: &context, settlement: settlement).written()
                try? await writer.write(ByteBuffer(bytes: relay.errorEvent(OpenAIError(.killed(killedBy)))))
                try? await writer.finish(nil)
                return
            }
            // Once the head is written, only the drain timeout cancels a response's task (it sets
            // `isCutting` first); the upstream read it interrupted may have ended in any way (a
            // close-delimited body ends cleanly).
            if Task.isCancelled && shutdown.isCutting {
                await settleStream(upstream, .cutAtShutdown, usage: usage, context: &context, settlement: settlement)
                    .written()
                return
            }
            if clientGone || Task.isCancelled {
                settleStream(upstream, .clientGone, usage: usage, context: &context, settlement: settlement)
                return
            }
            if failure == nil && !relay.endedCleanly {
                failure = (.streamInterrupted, "the upstream closed the stream before it was complete")
            }
            guard let (errorClass, reason) = failure else {
                await settleStream(upstream, .complete, usage: usage, context: &context, settlement: settlement).written()
                let closing = relay.closing(usage: usage)
                if !closing.isEmpty { try? await writer.write(ByteBuffer(bytes: closing)) }
                try? await writer.finish(nil)
                return
            }
            await settleStream(upstream, .failed(errorClass), usage: usage, context: &context, settlement: settlement)
                .written()
            let cause = relay.forwardedError.map { "the upstream reported an error: \($0)" } ?? reason
            let error = OpenAIError.upstream(
                errorClass, status: 502,
                message: "The stream from deployment '\(upstream.deployment.name)' was interrupted: \(cause)")
            // An error event the upstream sent has reached the client already.
            if relay.forwardedError == nil { try? await writer.write(ByteBuffer(bytes: relay.errorEvent(error))) }
            try? await writer.finish(nil)
        }
        var response = Response(
            status: .ok, headers: [.contentType: "text/event-stream", .cacheControl: "no-cache"], body: body)
        decorate(&response, context: context, upstream: upstream, estimated: nil)
        return response
    }

    /// How a relayed stream ended.
    enum StreamEnd {
        case clientGone
        /// The server's drain timeout closed the connection.
        case cutAtShutdown
        case complete
        /// A kill switch ended it.
        case killed
        /// Its running cost passed what a budget that cuts (`on_exceed: cut`) could still cover.
        case budgetCut
        case failed(ErrorClass)
    }

    /// Books a stream's end, whatever the formats: the deployment's lease and health, the
    /// route's output statistics, the last attempt's error and the usage record. Writing the
    /// client's last bytes is the caller's, in its own format, once the receipt says the record
    /// is on disk.
    @discardableResult
    func settleStream(
        _ upstream: UpstreamSuccess, _ end: StreamEnd, usage: TokenUsage, context: inout RequestContext,
        settlement: StreamSettlement
    ) -> UsageReceipt {
        switch end {
        case .clientGone:
            monitor.release(upstream.lease, outcome: .neutral)
            return settlement.settle(context, status: 499, errorClass: .clientCancelled, usage: usage, gateway: self)
        case .cutAtShutdown:
            // Neither the deployment nor the client did anything wrong.
            monitor.release(upstream.lease, outcome: .neutral)
            return settlement.settle(context, status: 503, errorClass: .serverShutdown, usage: usage, gateway: self)
        case .complete:
            let latency = ContinuousClock.now - upstream.startedAt
            monitor.release(upstream.lease, outcome: .success(latency: latency, timeToFirstToken: context.timeToFirstToken))
            if let route = context.route { monitor.recordOutputTokens(route: route, usage.outputTokens) }
            return settlement.settle(context, status: 200, errorClass: nil, usage: usage, gateway: self)
        case .killed:
            // The deployment did nothing wrong: its health is not affected.
            monitor.release(upstream.lease, outcome: .neutral)
            return settlement.settle(context, status: 403, errorClass: .killSwitch, usage: usage, gateway: self)
        case .budgetCut:
            monitor.release(upstream.lease, outcome: .neutral)
            return settlement.settle(context, status: 429, errorClass: .budgetExceeded, usage: usage, gateway: self)
        case .failed(let errorClass):
            monitor.release(upstream.lease, outcome: .failure)
            if !context.attempts.isEmpty { context.attempts[context.attempts.count - 1].errorClass = errorClass }
            return settlement.settle(context, status: 502, errorClass: errorClass, usage: usage, gateway: self)
        }
    }
}

extension Gateway {
    /// The refusal that ends a stream whose running cost (priced from what was relayed, this
    /// piece included) outgrew what its budgets that cut cover, when they cannot cover more.
    func budgetOverrun(
        _ relay: some StreamEventRelay, upstream: UpstreamSuccess, estimatedInputTokens: Int,
        context: inout RequestContext
    ) async -> BudgetRefusal? {
        guard var admission = context.admission, let principal = context.principal else { return nil }
        let usage = relay.tokenUsage(estimatedInputTokens: estimatedInputTokens)
        let cost = upstream.deployment.priceSchedule.prices(at: .now()).cost(of: usage)
        guard cost.nanos > admission.covered else { return nil }
        let refusal = await governor.cover(&admission, cost: cost, principal: principal, route: context.route ?? "")
        context.admission = admission
        return refusal
    }
}
