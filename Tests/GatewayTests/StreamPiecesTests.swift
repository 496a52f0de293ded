import NIOCore
import Providers
import Testing

@testable import DataPlane

@Suite struct StreamPiecesTests {
    static func event(_ content: String) -> String {
        #"data: {"choices":[{"index":0,"delta":{"content":"\#(content)"},"finish_reason":null}]}"# + "\n\n"
    }

    /// The pieces a relay reads from an upstream that sent `pieces`, and what the chat relay
    /// writes for each (empty writes left out), in order.
    static func relayed(_ pieces: [String]) async throws -> (read: [String], written: [String], relay: ChatStreamRelay) {
        var reader = StreamPieces(UpstreamBody.bytes(pieces.map { Array($0.utf8) }).makeAsyncIterator())
        var relay = ChatStreamRelay(clientWantsUsage: false)
        var read: [String] = []
        var written: [String] = []
        while let piece = try await reader.next(within: nil) {
            read.append(String(buffer: piece))
            let bytes = relay.relay(piece).bytes
            if !bytes.isEmpty { written.append(String(decoding: bytes, as: UTF8.self)) }
        }
        return (read, written, relay)
    }

    /// A burst of events in one upstream piece: the first leaves alone, the rest together, and
    /// the client gets every byte in order; later pieces go out whole. The stream's end waits
    /// for `closing`, which the relay writes once the usage record is on disk.
    @Test func theFirstEventOfABurstLeavesOnItsOwn() async throws {
        let burst = (0..<5).map { Self.event("t\($0)") }.joined()
        let later = Self.event("t5") + Self.event("t6") + "data: [DONE]\n\n"
        let (read, written, relay) = try await Self.relayed([burst, later])
        #expect(read == [Self.event("t0"), (1..<5).map { Self.event("t\($0)") }.joined(), later])
        #expect(written == read.dropLast() + [Self.event("t5") + Self.event("t6")])
        #expect(String(decoding: relay.closing(usage: .none), as: UTF8.self) == "data: [DONE]\n\n")
        #expect(relay.forwardedEvents == 8 && relay.endedCleanly)
    }

    /// An event split across upstream pieces is relayed once it is complete; the piece that
    /// completes it is split after it.
    @Test func anEventSplitAcrossPiecesIsRelayedWhole() async throws {
        let whole = Self.event("split") + Self.event("next")
        let cut = whole.utf8.count / 3
        let (read, written, _) = try await Self.relayed([String(whole.prefix(cut)), String(whole.dropFirst(cut))])
        #expect(read.count == 3 && read.joined() == whole)
        #expect(written == [Self.event("split"), Self.event("next")])
    }

    @Test func burstsSplitAfterTheirFirstEmptyLine() {
        func end(_ text: String) -> Int? { StreamPieces.firstEventEnd(in: ByteBuffer(string: text)) }
        #expect(end("data: a\n\ndata: b\n\n") == 9)
        #expect(end("data: a\r\n\r\ndata: b\r\n\r\n") == 11)
        #expect(end("data: a\n\n") == 9)  // one event: the whole piece, nothing held back
        #expect(end("data: a\ndata: b") == nil)  // no event end yet
        #expect(end("") == nil)
    }
}
