import NIOCore
import SwitchyardCore

/// The only handler of an upstream connection: reads the response of the exchange in progress
/// from the bytes as they arrive and passes its parts on.
final class UpstreamResponseHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer

    private var exchange: UpstreamExchange?
    private var parser = UpstreamResponseParser()
    /// Inside `parser.feed`: an exchange failing there closes the channel at once, and the
    /// parser must not be touched again until `feed` returns.
    private var feeding = false
    /// One timer for the connection's exchanges, armed for the earliest deadline asked for and
    /// left running when an exchange ends: on a busy connection it is armed about once per
    /// first-byte timeout instead of scheduled and cancelled for every exchange.
    private var timer: Scheduled<Void>?
    private var timerDeadline: NIODeadline?
    private let eventLoop: any EventLoop

    init(eventLoop: any EventLoop) { self.eventLoop = eventLoop }

    func start(_ exchange: UpstreamExchange) {
        self.exchange = exchange
        exchange.clock = self
        parser = UpstreamResponseParser()
    }

    /// Wakes the exchange in progress (if any) at `deadline` or earlier.
    func wake(at deadline: NIODeadline) {
        if let armed = timerDeadline, armed <= deadline { return }
        timer?.cancel()
        timerDeadline = deadline
        // Weak: a closed connection's handler is not kept until its timer fires.
        timer = eventLoop.scheduleTask(deadline: deadline) { [weak self] in
            guard let self else { return }
            timer = nil
            timerDeadline = nil
            exchange?.checkDeadlines()
        }
    }

    private func stopTimer() {
        timer?.cancel()
        timer = nil
        timerDeadline = nil
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        stopTimer()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard let exchange else {
            // Bytes nobody asked for: this connection cannot be trusted any more.
            context.close(promise: nil)
            return
        }
        feeding = true
        defer { feeding = false }
        do {
            try parser.feed(unwrapInboundIn(data)) { part in
                if case .end = part { self.exchange = nil }
                exchange.received(part)
            }
        } catch {
            self.exchange = nil
            exchange.fail(error)
            context.close(promise: nil)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        stopTimer()
        if let exchange {
            self.exchange = nil
            do {
                // A body that runs until the connection closes ends here; anything else was cut short.
                guard exchange.receivedAnything, !feeding else { throw StaleConnection() }
                try parser.inputClosed { exchange.received($0) }
            } catch {
                exchange.fail(
                    exchange.mayRetry
                        ? StaleConnection() : UpstreamFailure(.upstreamUnavailable, "upstream closed the connection"))
            }
        }
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if let exchange {
            self.exchange = nil
            exchange.fail(exchange.mayRetry ? StaleConnection() : error)
        }
        context.close(promise: nil)
    }
}
