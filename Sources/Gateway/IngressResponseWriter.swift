import HTTPTypes
import Hummingbird
import NIOCore
import NIOHTTPTypes

/// Writes a `Response` to a client connection from a task running on the connection's event loop.
///
/// Body pieces are written without waiting for each to reach the socket. The first leaves at once
/// with the head; later ones are flushed together: the flush is queued behind the current task
/// job, so pieces the relay writes in one go leave in one system call, and a stream's chunk
/// leaves as soon as the relay waits for the next one. When the client reads slower than the gateway writes (the channel is no
/// longer writable), a write waits until its bytes are taken: back-pressure reaches the relay and,
/// through it, the upstream.
struct IngressResponseWriter: ResponseBodyWriter {
    let channel: any Channel
    /// The first piece (and the head before it) leaves at once: a relay with more upstream
    /// chunks already buffered would otherwise hold the client's first token until it has
    /// copied them all.
    private var sentFirstPiece = false

    init(channel: any Channel) { self.channel = channel }

    static func write(_ response: Response, to channel: any Channel) async throws {
        channel.write(HTTPResponsePart.head(response.head), promise: nil)
        try await response.body.write(IngressResponseWriter(channel: channel))
    }

    mutating func write(_ buffer: ByteBuffer) async throws {
        guard channel.isActive else { throw ChannelError.ioOnClosedChannel }
        if !sentFirstPiece {
            sentFirstPiece = true
            channel.writeAndFlush(HTTPResponsePart.body(buffer), promise: nil)
        } else if channel.isWritable {
            channel.write(HTTPResponsePart.body(buffer), promise: nil)
            let channel = self.channel
            channel.eventLoop.execute { channel.flush() }
        } else {
            try await channel.writeAndFlush(HTTPResponsePart.body(buffer)).get()
        }
    }

    /// Not awaited: the end is a few bytes (or none) and the connection closes itself if they
    /// cannot be written; waiting for them cost every request a suspension and a promise.
    consuming func finish(_ trailingHeaders: HTTPFields?) async throws {
        guard channel.isActive else { throw ChannelError.ioOnClosedChannel }
        channel.writeAndFlush(HTTPResponsePart.end(trailingHeaders), promise: nil)
    }
}
