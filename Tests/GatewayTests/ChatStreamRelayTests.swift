import HTTPTypes
import Hummingbird
import NIOCore
import Testing

@testable import Gateway

@Suite struct ChatStreamRelayTests {
    /// Collects what the relay writes, piece by piece.
    struct Collector: ResponseBodyWriter {
        final class Pieces: @unchecked Sendable { var all: [String] = [] }
        let pieces = Pieces()
        mutating func write(_ buffer: ByteBuffer) async throws { pieces.all.append(String(buffer: buffer)) }
        consuming func finish(_ trailingHeaders: HTTPFields?) async throws {}
    }

    static func event(_ content: String) -> String {
        #"data: {"choices":[{"index":0,"delta":{"content":"\#(content)"},"finish_reason":null}]}"# + "\n\n"
    }

    /// A burst of events in one upstream piece: the first leaves alone, the rest together, and
    /// the client gets every byte in order; later pieces go out whole.
    @Test func theFirstEventOfABurstLeavesOnItsOwn() async throws {
        var relay = ChatStreamRelay(clientWantsUsage: false)
        let collector = Collector()
        var writer: any ResponseBodyWriter = collector
        let burst = (0..<5).map { Self.event("t\($0)") }.joined()
        try await relay.relay(ByteBuffer(string: burst), to: &writer)
        #expect(collector.pieces.all == [Self.event("t0"), (1..<5).map { Self.event("t\($0)") }.joined()])
        #expect(relay.firstForwardedAt != nil && relay.forwardedEvents == 5)

        let later = Self.event("t5") + Self.event("t6") + "data: [DONE]\n\n"
        try await relay.relay(ByteBuffer(string: later), to: &writer)
        #expect(collector.pieces.all.count == 3 && collector.pieces.all[2] == later)
        #expect(relay.endedCleanly)
    }

    /// An event split across upstream pieces is relayed once it is complete.
    @Test func anEventSplitAcrossPiecesIsRelayedWhole() async throws {
        var relay = ChatStreamRelay(clientWantsUsage: false)
        let collector = Collector()
        var writer: any ResponseBodyWriter = collector
        let whole = Self.event("split") + Self.event("next")
        let cut = whole.utf8.count / 3
        try await relay.relay(ByteBuffer(string: String(whole.prefix(cut))), to: &writer)
        #expect(collector.pieces.all.isEmpty && relay.firstForwardedAt == nil)
        try await relay.relay(ByteBuffer(string: String(whole.dropFirst(cut))), to: &writer)
        #expect(collector.pieces.all == [Self.event("split"), Self.event("next")])
    }

    @Test func burstsSplitAfterTheirFirstEmptyLine() {
        func split(_ text: String) -> [String] {
            ChatStreamRelay.splitAfterFirstEvent(ByteBuffer(string: text)).map { String(buffer: $0) }
        }
        #expect(split("data: a\n\ndata: b\n\n") == ["data: a\n\n", "data: b\n\n"])
        #expect(split("data: a\r\n\r\ndata: b\r\n\r\n") == ["data: a\r\n\r\n", "data: b\r\n\r\n"])
        #expect(split("data: a\n\n") == ["data: a\n\n"])  // one event: nothing to split
        #expect(split("data: a\ndata: b") == ["data: a\ndata: b"])  // no event end yet
        #expect(split("") == [""])
    }
}
