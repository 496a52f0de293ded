import NIOCore
import SwitchyardCore

/// One request's answer as it arrives: the head, then the body — handed over piece by piece
/// (streams) or once it is whole (non-streamed calls) — within the request's deadlines. Lives on
/// the channel's event loop; each step happens at most once.
final class UpstreamExchange: @unchecked Sendable {
    /// When the answer must start, end, and the longest silence inside it.
    struct Deadlines {
        var start: NIODeadline
        var firstByte: NIODeadline
        var total: NIODeadline
        var idle: TimeAmount
        var timeouts: Timeouts

        init(_ timeouts: Timeouts, from start: NIODeadline) {
            self.start = start
            firstByte = start + TimeAmount(timeouts.firstByte)
            total = start + TimeAmount(timeouts.total)
            idle = TimeAmount(timeouts.idle)
            self.timeouts = timeouts
        }
    }

    /// What the caller waits for: the head, with the body when it is read whole.
    struct Answer: Sendable {
        var head: UpstreamResponseParser.Head
        var wholeBody: ByteBuffer?
    }

    enum Delivery {
        /// Each piece as it arrives, reading paced by the consumer.
        case stream(AsyncThrowingStream<ByteBuffer, any Error>.Continuation, ReadPacer)
        /// The whole body at the end, at most `limit` bytes.
        case whole(limit: Int)
    }

    enum State {
        case awaitingHead
        case streaming
        case collecting(UpstreamResponseParser.Head, ByteBuffer)
        case done
    }

    private let answer: EventLoopPromise<Answer>
    private let delivery: Delivery
    private let deadlines: Deadlines
    private let finished: @Sendable (_ reusable: Bool) -> Void
    private var state = State.awaitingHead
    private var keepAlive = false
    /// The connection's handler, whose one timer wakes this exchange for its deadlines.
    weak var clock: UpstreamResponseHandler?
    private var lastData: NIODeadline
    /// Reading is paused for a slow consumer: silence then is not the upstream's.
    private var readingPaused = false

    init(
        answer: EventLoopPromise<Answer>, delivery: Delivery, deadlines: Deadlines,
        finished: @escaping @Sendable (Bool) -> Void
    ) {
        self.answer = answer
        self.delivery = delivery
        self.deadlines = deadlines
        self.finished = finished
        self.lastData = deadlines.start
    }

    var receivedAnything: Bool {
        if case .awaitingHead = state { return false }
        return true
    }
    /// The whole request was written: from here on the upstream may have acted on it.
    var requestWritten = false
    /// Whether a retry on another connection is safe after this one failed.
    var mayRetry: Bool { !receivedAnything && !requestWritten }

    /// Starts the deadlines, before the request is written.
    func begin() {
        armTimer()
    }

    func received(_ part: UpstreamResponseParser.Part) {
        switch (state, part) {
        case (.awaitingHead, .head(let responseHead)):
            keepAlive = responseHead.keepAlive
            lastData = .now()
            switch delivery {
            case .stream:
                state = .streaming
                answer.succeed(Answer(head: responseHead, wholeBody: nil))
            case .whole:
                state = .collecting(responseHead, ByteBuffer())
            }
        case (.streaming, .body(let buffer)):
            lastData = .now()
            guard case .stream(let body, let pacer) = delivery else { return }
            if pacer.produced() { readingPaused = true }
            body.yield(buffer)
        case (.collecting(let head, var whole), .body(let buffer)):
            lastData = .now()
            guard case .whole(let limit) = delivery else { return }
            guard whole.readableBytes + buffer.readableBytes <= limit else { return fail(UpstreamBody.tooLarge(limit)) }
            state = .done  // so `whole` is uniquely referenced while it grows
            if whole.readableBytes == 0 {
                whole = buffer
            } else {
                whole.writeImmutableBuffer(buffer)
            }
            state = .collecting(head, whole)
        case (.streaming, .end):
            state = .done
            if case .stream(let body, _) = delivery { body.finish() }
            finished(keepAlive)
        case (.collecting(let head, let whole), .end):
            state = .done
            // Back in the pool before the caller resumes, so its next request can take it.
            finished(keepAlive)
            answer.succeed(Answer(head: head, wholeBody: whole))
        default:
            fail(UpstreamFailure(.upstreamError, "upstream sent an HTTP response out of order"))
        }
    }

    func fail(_ error: any Error) {
        switch state {
        case .awaitingHead, .collecting:
            answer.fail(error)
            if case .stream(let body, _) = delivery { body.finish(throwing: error) }
        case .streaming:
            if case .stream(let body, _) = delivery { body.finish(throwing: error) }
        case .done: return
        }
        state = .done
        finished(false)
    }

    /// The consumer caught up and reading resumed: the upstream's silence counts again from now.
    func readingResumed() {
        guard case .streaming = state else { return }
        readingPaused = false
        lastData = .now()
        armTimer()
    }

    /// The earliest deadline still ahead. Before the head, `start + idle` is a harmless early
    /// check (the idle deadline once data flows can only be later), so the usual exchange never
    /// needs a second timer.
    private func nextDeadline(after now: NIODeadline) -> NIODeadline? {
        // Without an array: this runs for every exchange.
        var next: NIODeadline?
        func consider(_ deadline: NIODeadline) {
            if deadline > now, next.map({ deadline < $0 }) ?? true { next = deadline }
        }
        consider(deadlines.total)
        switch state {
        case .awaitingHead:
            consider(deadlines.firstByte)
            consider(deadlines.start + deadlines.idle)
        case .streaming, .collecting:
            if !readingPaused { consider(lastData + deadlines.idle) }
        case .done: return nil
        }
        return next
    }

    private func armTimer() {
        guard let deadline = nextDeadline(after: .now()) else { return }
        clock?.wake(at: deadline)
    }

    /// Called by the connection's timer (which may fire early: it is not moved back when an
    /// exchange ends), so each deadline is checked against the clock.
    func checkDeadlines() {
        let now = NIODeadline.now()
        let timeouts = deadlines.timeouts
        switch state {
        case .done: return
        case .awaitingHead where now >= deadlines.firstByte:
            timeOut("time to first byte took longer than \(timeouts.firstByte)")
        case _ where now >= deadlines.total:
            timeOut("upstream took longer than \(timeouts.total)")
        case .streaming where !readingPaused && now >= lastData + deadlines.idle,
            .collecting where !readingPaused && now >= lastData + deadlines.idle:
            timeOut("no data from upstream for \(timeouts.idle)")
        default:
            armTimer()
        }
    }

    /// Failing closes the connection (`finished(false)`), which ends the upstream request.
    private func timeOut(_ message: String) {
        fail(UpstreamFailure(.upstreamTimeout, message))
    }
}
