import Hummingbird
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
            var pieces = StreamPieces(upstream.response.body.makeAsyncIterator())
            do {
                // Each piece must arrive within the deployment's idle timeout.
                while let piece = try await pieces.next(within: idleLimit) {
                    if let kill = governor.kills.stopping(context.principal) {
                        killedBy = kill
                        break
                    }
                    let step = relay.relay(piece)
                    if let stepFailure = step.failure {
                        // What was read before the failure still reaches the client.
                        if !step.bytes.isEmpty { try? await writer.write(ByteBuffer(bytes: step.bytes)) }
                        failure = stepFailure
                        break
                    }
                    if step.bytes.isEmpty { continue }
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
            let usage = relay.tokenUsage(estimatedInputTokens: estimatedInputTokens)
            if let killedBy {
                settleStream(upstream, .killed, usage: usage, context: &context, settlement: settlement)
                try? await writer.write(ByteBuffer(bytes: relay.errorEvent(OpenAIError(.killed(killedBy)))))
                try? await writer.finish(nil)
                return
            }
            if clientGone {
                settleStream(upstream, .clientGone, usage: usage, context: &context, settlement: settlement)
                return
            }
            if failure == nil && !relay.endedCleanly {
                failure = (.streamInterrupted, "the upstream closed the stream before it was complete")
            }
            guard let (errorClass, reason) = failure else {
                settleStream(upstream, .complete, usage: usage, context: &context, settlement: settlement)
                let closing = relay.closing(usage: usage)
                if !closing.isEmpty { try? await writer.write(ByteBuffer(bytes: closing)) }
                try? await writer.finish(nil)
                return
            }
            settleStream(upstream, .failed(errorClass), usage: usage, context: &context, settlement: settlement)
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
}
