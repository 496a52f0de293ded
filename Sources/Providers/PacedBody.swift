import NIOCore

/// A response body that tells its pacer about each piece taken.
struct PacedBody: AsyncSequence, Sendable {
    typealias Element = ByteBuffer
    let base: AsyncThrowingStream<ByteBuffer, any Error>
    let pacer: ReadPacer

    func makeAsyncIterator() -> Iterator { Iterator(base: base.makeAsyncIterator(), pacer: pacer) }

    struct Iterator: AsyncIteratorProtocol {
        var base: AsyncThrowingStream<ByteBuffer, any Error>.AsyncIterator
        let pacer: ReadPacer

        mutating func next() async throws -> ByteBuffer? {
            // On the caller's executor: the stream's plain `next()` is `@concurrent`.
            let piece = try await base.next(isolation: #isolation)
            if piece != nil { pacer.consumed() }
            return piece
        }
    }
}
