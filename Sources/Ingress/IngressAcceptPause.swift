import NIOCore

#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Pauses accepting for a moment when an accept fails for want of resources (out of file
/// descriptors, or of kernel memory), then resumes.
///
/// Why not NIO's `AcceptBackoffHandler`: it holds back the next `read`, but after a failed
/// accept NIO's server channel still has its read pending and stays registered for readability,
/// so the still-readable listening socket is accepted from again at once, in a loop that uses a
/// whole core. Turning auto-read off takes the socket out of the poll set; turning it back on
/// after the pause puts it back.
final class IngressAcceptPause: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = Channel
    typealias InboundOut = Channel

    private let pause: TimeAmount
    private let onPause: @Sendable () -> Void
    private var resume: Scheduled<Void>?

    init(pause: TimeAmount = .milliseconds(100), onPause: @escaping @Sendable () -> Void) {
        self.pause = pause
        self.onPause = onPause
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        guard let error = error as? IOError, Self.isResourceShortage(error), resume == nil else {
            context.fireErrorCaught(error)
            return
        }
        onPause()
        let channel = context.channel
        channel.setOption(ChannelOptions.autoRead, value: false).whenComplete { _ in }
        resume = context.eventLoop.assumeIsolated().scheduleTask(in: pause) {
            self.resume = nil
            channel.setOption(ChannelOptions.autoRead, value: true).whenComplete { _ in }
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        resume?.cancel()
        resume = nil
        context.fireChannelInactive()
    }

    static func isResourceShortage(_ error: IOError) -> Bool {
        [EMFILE, ENFILE, ENOBUFS, ENOMEM].contains(error.errnoCode)
    }
}
