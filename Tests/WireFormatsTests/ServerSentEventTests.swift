import Testing

@testable import WireFormats

@Suite struct ServerSentEventParserTests {
    func parse(_ chunks: [String]) -> [ServerSentEvent] {
        var parser = ServerSentEventParser()
        return chunks.flatMap { parser.feed(Array($0.utf8)) }
    }

    @Test func parsesEventsSplitAnywhere() {
        let stream = "data: {\"a\":1}\n\ndata: {\"b\":2}\n\ndata: [DONE]\n\n"
        let whole = parse([stream])
        #expect(whole.map { String(decoding: $0.data, as: UTF8.self) } == [#"{"a":1}"#, #"{"b":2}"#, "[DONE]"])
        #expect(whole.last?.isDone == true)
        // Every possible split point, and byte-by-byte.
        for split in 1..<stream.utf8.count {
            let bytes = Array(stream.utf8)
            var parser = ServerSentEventParser()
            let events = parser.feed(bytes[..<split]) + parser.feed(bytes[split...])
            #expect(events == whole, "split at \(split)")
        }
        #expect(parse(stream.map { String($0) }) == whole)
    }

    @Test func joinsMultiLineDataAndKeepsEventNames() {
        let events = parse(["event: message_start\ndata: line one\ndata: line two\n\n"])
        #expect(events == [ServerSentEvent(event: "message_start", data: "line one\nline two")])
    }

    @Test func ignoresCommentsAndUnknownFieldsAndEmptyEvents() {
        let events = parse([": keep-alive\n\nretry: 100\nfoo: bar\n\n: ping\ndata: x\n\n"])
        #expect(events == [ServerSentEvent(data: "x")])
    }

    @Test func acceptsCRLFAndCRLineEndings() {
        #expect(parse(["data: a\r\n\r\ndata: b\r\rdata: c\r", "\n\r\n"]).map(\.data) == [[97], [98], [99]])
    }

    @Test func fieldWithoutSpaceAndDataWithColons() {
        #expect(parse(["data:{\"t\":\"a: b\"}\n\n"]).first?.data == Array(#"{"t":"a: b"}"#.utf8))
    }

    @Test func incompleteEventIsHeldBack() {
        var parser = ServerSentEventParser()
        #expect(parser.feed(Array("data: partial".utf8)).isEmpty)
        #expect(parser.bufferedByteCount > 0)
    }

    @Test func encodingRoundTrips() {
        let events = [
            ServerSentEvent(event: "content_block_delta", data: #"{"x":"y"}"#),
            ServerSentEvent(data: "multi\nline"),
            ServerSentEvent(data: "[DONE]"),
        ]
        var parser = ServerSentEventParser()
        #expect(parser.feed(events.flatMap { $0.encoded() }) == events)
        #expect(String(decoding: ServerSentEvent(data: "[DONE]").encoded(), as: UTF8.self) == "data: [DONE]\n\n")
    }
}
