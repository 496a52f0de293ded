import NIOCore
import Providers

/// An upstream stream's pieces as the relays read them, with the burst that carries the stream's
/// first event split right after that event: when the upstream sends many events at once, the
/// first one is relayed and written before the rest are read, so the client's first token does
/// not wait for the upstream's later ones. Every later piece is passed on as it arrived.
struct StreamPieces {
    private let base: UpstreamBody.AsyncIterator
    private var held: ByteBuffer?
    /// Until a piece has held the end of an event.
    private var beforeFirstEvent = true

    init(_ base: UpstreamBody.AsyncIterator) { self.base = base }

    /// The next piece, or an `upstreamTimeout` failure if none arrives within `limit`.
    mutating func next(within limit: Duration?) async throws -> ByteBuffer? {
        if let held {
            self.held = nil
            return held
        }
        guard let piece = try await base.next(within: limit) else { return nil }
        guard beforeFirstEvent, let end = Self.firstEventEnd(in: piece) else { return piece }
        beforeFirstEvent = false
        guard end < piece.readableBytes else { return piece }
        held = piece.getSlice(at: piece.readerIndex + end, length: piece.readableBytes - end)
        return piece.getSlice(at: piece.readerIndex, length: end)
    }

    /// Where the first event in `piece` ends (after its empty line: "\n\n", or "\n\r\n" when lines
    /// end in CRLF), or nil when none ends in it.
    static func firstEventEnd(in piece: ByteBuffer) -> Int? {
        piece.withUnsafeReadableBytes { bytes in
            var index = 1
            while index < bytes.count {
                if bytes[index] == 0x0A,
                    bytes[index - 1] == 0x0A || (index >= 2 && bytes[index - 1] == 0x0D && bytes[index - 2] == 0x0A)
                {
                    return index + 1
                }
                index += 1
            }
            return nil
        }
    }
}
