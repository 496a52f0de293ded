import NIOCore
import SwitchyardCore
import Testing

@testable import Providers

/// The upstream response reader against recorded wire bytes, fed whole and split at every byte.
@Suite struct UpstreamResponseParserTests {
    struct Read: Equatable {
        var heads: [UpstreamResponseParser.Head] = []
        var body = ""
        var ended = false
    }

    /// Feeds `pieces` in order (then the close, if asked); the parts read, or the failure.
    static func read(_ pieces: [String], close: Bool = false) -> Result<Read, UpstreamFailure> {
        var parser = UpstreamResponseParser()
        var read = Read()
        func deliver(_ part: UpstreamResponseParser.Part) {
            switch part {
            case .head(let head): read.heads.append(head)
            case .body(let buffer): read.body += String(buffer: buffer)
            case .end: read.ended = true
            }
        }
        do {
            for piece in pieces { try parser.feed(ByteBuffer(string: piece), deliver) }
            if close { try parser.inputClosed(deliver) }
            return .success(read)
        } catch {
            return .failure(error)
        }
    }

    /// The same result whole, byte by byte, and cut in two at every position.
    static func expectSameEverySplit(_ wire: String, close: Bool = false, _ expected: Read) {
        func get(_ result: Result<Read, UpstreamFailure>) -> Read? { try? result.get() }
        #expect(get(read([wire], close: close)) == expected)
        #expect(get(read(wire.map { String($0) }, close: close)) == expected)
        let bytes = Array(wire.utf8)
        for cut in 1..<bytes.count {
            let pieces = [String(decoding: bytes[..<cut], as: UTF8.self), String(decoding: bytes[cut...], as: UTF8.self)]
            #expect(get(read(pieces, close: close)) == expected, "cut at \(cut)")
        }
    }

    static let nginxJSON =
        "HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Mon, 23 Nov 2026 10:00:00 GMT\r\n"
        + "Content-Type: application/json\r\nContent-Length: 27\r\nConnection: keep-alive\r\n\r\n"
        + #"{"id":"chatcmpl-1","ok":12}"#

    @Test func aContentLengthBodyArrivesWhole() {
        Self.expectSameEverySplit(
            Self.nginxJSON,
            Read(
                heads: [.init(status: 200, contentType: "application/json", retryAfter: nil, keepAlive: true)],
                body: #"{"id":"chatcmpl-1","ok":12}"#, ended: true))
    }

    /// llama.cpp's and vLLM's streams: chunked, with an extension and a trailer here for good measure.
    @Test func chunkedStreamsAreReassembled() {
        let wire =
            "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n"
            + "f\r\ndata: {\"a\":1}\n\n\r\n" + "E;name=value\r\ndata: [DONE]\n\n\r\n"
            + "0\r\nX-Trailer: done\r\n\r\n"
        Self.expectSameEverySplit(
            wire,
            Read(
                heads: [.init(status: 200, contentType: "text/event-stream", retryAfter: nil, keepAlive: true)],
                body: "data: {\"a\":1}\n\ndata: [DONE]\n\n", ended: true))
    }

    @Test func framingFollowsTheStatusAndHeaders() throws {
        // Informational heads are skipped; 204 has no body; Retry-After is kept as sent.
        let continued = try Self.read(["HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\nRetry-After: 7\r\n\r\n"]).get()
        #expect(continued.heads == [.init(status: 204, contentType: nil, retryAfter: "7", keepAlive: true)] && continued.ended)
        // No length: the body runs until the connection closes, and the connection is not reused.
        Self.expectSameEverySplit(
            "HTTP/1.1 429 Too Many Requests\r\nContent-Type: text/plain\r\n\r\nslow down", close: true,
            Read(
                heads: [.init(status: 429, contentType: "text/plain", retryAfter: nil, keepAlive: false)], body: "slow down",
                ended: true))
        // HTTP/1.0 closes unless asked; Connection: close is honoured; both framings: chunked wins, no reuse.
        #expect(try Self.read(["HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n"]).get().heads.first?.keepAlive == false)
        #expect(
            try Self.read(["HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 0\r\n\r\n"]).get().heads.first?.keepAlive
                == true)
        #expect(
            try Self.read(["HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 0\r\n\r\n"]).get().heads.first?.keepAlive
                == false)
        let both = try Self.read([
            "HTTP/1.1 200 OK\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n"
        ]).get()
        #expect(both.body == "ok" && both.ended && both.heads.first?.keepAlive == false)
        // A body not yet complete is not ended.
        #expect(
            try Self.read(["HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhalf"]).get()
                == Read(
                    heads: [.init(status: 200, contentType: nil, retryAfter: nil, keepAlive: true)], body: "half", ended: false))
    }

    @Test(arguments: [
        (["HTTP/2 200\r\n\r\n"], false, "status line"),
        (["HTTP/1.1 2000 OK\r\n\r\n"], false, "status line"),
        (["HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\n"], false, "conflicting Content-Length"),
        (["HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n"], false, "invalid Content-Length"),
        (["HTTP/1.1 200 OK\r\nX-A: 1\r\n folded\r\n\r\n"], false, "folded"),
        (["HTTP/1.1 200 OK\r\nBad Name: 1\r\n\r\n"], false, "invalid header name"),
        (["HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"], false, "invalid chunk size"),
        (["HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nokay\r\n"], false, "longer than its size"),
        (["HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokEXTRA"], false, "after the end"),
        (["HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhalf"], true, "closed before the response was complete"),
        (["HTTP/1.1 101 Switching Protocols\r\n\r\n"], false, "upgrade"),
        (["HTTP/1.1 200 OK\r\nX-Big: " + String(repeating: "x", count: 70_000)], false, "larger than 64 KiB"),
    ])
    func malformedResponsesFailWithAReason(pieces: [String], close: Bool, reason: String) {
        guard case .failure(let failure) = Self.read(pieces, close: close) else {
            Issue.record("accepted: \(pieces.joined().prefix(80))")
            return
        }
        #expect(failure.errorClass == .upstreamError && failure.message.contains(reason), "\(failure.message)")
    }

    /// What goes out: one head with the target's host and the body's length, the caller's own
    /// Host and Content-Length dropped, and nothing that could split the request.
    @Test func requestHeadsAreWrittenSafely() throws {
        let target = try #require(PlainHTTPTarget("http://127.0.0.1:8081/v1/chat/completions"))
        var request = UpstreamRequest(
            url: "http://127.0.0.1:8081/v1/chat/completions",
            headers: [
                ("content-type", "application/json"), ("Host", "evil"), ("Content-Length", "1"), ("authorization", "Bearer k"),
            ],
            body: Array("{}".utf8), timeouts: Timeouts())
        #expect(
            String(decoding: try NIOHTTPTransport.requestHead(request, target: target), as: UTF8.self)
                == "POST /v1/chat/completions HTTP/1.1\r\nhost: 127.0.0.1:8081\r\ncontent-type: application/json\r\n"
                + "authorization: Bearer k\r\ncontent-length: 2\r\n\r\n")
        request.isProbe = true
        #expect(
            String(decoding: try NIOHTTPTransport.requestHead(request, target: target), as: UTF8.self).hasPrefix("GET /v1/chat"))
        for (name, value) in [("x-injected", "a\r\nX-Evil: 1"), ("bad name", "v"), ("x-nul", "a\u{0}b")] {
            request.headers = [(name, value)]
            #expect(throws: UpstreamFailure.self) { try NIOHTTPTransport.requestHead(request, target: target) }
        }
    }
}
