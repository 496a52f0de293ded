import HTTPTypes
import Hummingbird
import NIOCore
import NIOHTTPTypes

/// Where a response task's parts go: the connection's handler, which frames them
/// (`IngressResponseFraming`) and writes the bytes. Called on the connection's event loop only.
protocol IngressResponseSink: AnyObject {
    func writeResponse(_ part: HTTPResponsePart, flush: Bool, promise: EventLoopPromise<Void>?)
    func flushResponse()
    /// The response task is done; `written`: the whole response was handed over.
    func responseEnded(written: Bool)
}

/// A connection's sink, usable from the response task: calls run on the event loop, at once when
/// the task is already there (it runs with the loop as its executor preference), queued
/// otherwise (as a channel write from off the loop is). Parts go straight to the handler instead
/// of entering the channel pipeline, which boxed each one in an `NIOAny` and passed it along to
/// be unboxed again.
struct IngressResponseTarget: Sendable {
    private let sink: NIOLoopBound<any IngressResponseSink>

    init(_ sink: any IngressResponseSink, eventLoop: any EventLoop) {
        self.sink = NIOLoopBound(sink, eventLoop: eventLoop)
    }

    // Each call tests the loop itself: a shared helper taking a closure allocated the closure's
    // context for every part, even when called at once.
    func write(_ part: HTTPResponsePart, flush: Bool, promise: EventLoopPromise<Void>? = nil) {
        if sink.eventLoop.inEventLoop {
            sink.value.writeResponse(part, flush: flush, promise: promise)
        } else {
            let sink = self.sink
            sink.eventLoop.execute { sink.value.writeResponse(part, flush: flush, promise: promise) }
        }
    }

    /// Queued behind the current job, so pieces written in one go leave in one system call.
    func flushLater() {
        let sink = self.sink
        sink.eventLoop.execute { sink.value.flushResponse() }
    }

    func ended(written: Bool) {
        if sink.eventLoop.inEventLoop {
            sink.value.responseEnded(written: written)
        } else {
            let sink = self.sink
            sink.eventLoop.execute { sink.value.responseEnded(written: written) }
        }
    }
}

/// Writes a `Response` to a client connection from a task running on the connection's event loop.
///
/// Body pieces are written without waiting for each to reach the socket. The first leaves at once
/// with the head; later ones are flushed together: the flush is queued behind the current task
/// job, so pieces the relay writes in one go leave in one system call, and a stream's chunk
/// leaves as soon as the relay waits for the next one. When the client reads slower than the
/// gateway writes (the channel is no longer writable), a write waits until its bytes are taken:
/// back-pressure reaches the relay and, through it, the upstream.
struct IngressResponseWriter: ResponseBodyWriter {
    let channel: any Channel
    let target: IngressResponseTarget
    /// The first piece (and the head before it) leaves at once: a relay with more upstream
    /// chunks already buffered would otherwise hold the client's first token until it has
    /// copied them all.
    private var sentFirstPiece = false

    init(channel: any Channel, target: IngressResponseTarget) {
        self.channel = channel
        self.target = target
    }

    static func write(_ response: Response, to channel: any Channel, through target: IngressResponseTarget) async throws {
        target.write(.head(response.head), flush: false)
        try await response.body.write(IngressResponseWriter(channel: channel, target: target))
    }

    mutating func write(_ buffer: ByteBuffer) async throws {
        guard channel.isActive else { throw ChannelError.ioOnClosedChannel }
        if !sentFirstPiece {
            sentFirstPiece = true
            target.write(.body(buffer), flush: true)
        } else if channel.isWritable {
            target.write(.body(buffer), flush: false)
            target.flushLater()
        } else {
            let written = channel.eventLoop.makePromise(of: Void.self)
            target.write(.body(buffer), flush: true, promise: written)
            try await written.futureResult.get()
        }
    }

    /// Not awaited: the end is a few bytes (or none) and the connection closes itself if they
    /// cannot be written; waiting for them cost every request a suspension and a promise.
    consuming func finish(_ trailingHeaders: HTTPFields?) async throws {
        guard channel.isActive else { throw ChannelError.ioOnClosedChannel }
        target.write(.end(trailingHeaders), flush: true)
    }
}
