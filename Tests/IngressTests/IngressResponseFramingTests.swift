import HTTPTypes
import NIOCore
import Testing

@testable import Ingress

/// How responses go on the wire: the head's framing headers are the gateway's, the body framing
/// follows from the head and the request (RFC 9112 §6).
@Suite struct IngressResponseFramingTests {
    static let http11 = IngressExchange(keepAlive: true, isHTTP10: false, isHeadRequest: false)

    static func head(
        _ status: HTTPResponse.Status, _ fields: HTTPFields = [:], answering exchange: IngressExchange = http11
    ) -> (String, IngressResponseFraming) {
        var buffer = ByteBuffer()
        let framing = IngressResponseFraming.writeHead(
            HTTPResponse(status: status, headerFields: fields), answering: exchange, into: &buffer)
        return (String(buffer: buffer), framing)
    }

    @Test func aBodyOfKnownLengthIsSentAsItIs() {
        let (text, framing) = Self.head(.ok, [.contentType: "application/json", .contentLength: "2"])
        #expect(text == "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n")
        #expect(framing == IngressResponseFraming(body: .fixedLength, keepAlive: true))
        #expect(framing.encode(ByteBuffer(string: "{}"), allocator: .init()) == ByteBuffer(string: "{}"))
        #expect(framing.end == nil)
    }

    @Test func aStreamIsChunkedAndEmptyPiecesAreNotTheEnd() throws {
        let (text, framing) = Self.head(.ok, [.contentType: "text/event-stream", .transferEncoding: "gzip"])
        #expect(text == "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n")
        let chunk = try #require(framing.encode(ByteBuffer(string: String(repeating: "d", count: 26)), allocator: .init()))
        #expect(String(buffer: chunk) == "1a\r\n" + String(repeating: "d", count: 26) + "\r\n")
        #expect(framing.encode(ByteBuffer(), allocator: .init()) == nil)
        #expect(framing.end.map { "\($0)" } == "0\r\n\r\n")
    }

    @Test func http10GetsNoChunksAndKeepAliveOnlyWhenAsked() {
        let closing = IngressExchange(keepAlive: false, isHTTP10: true, isHeadRequest: false)
        let (stream, streamFraming) = Self.head(.ok, [:], answering: closing)
        #expect(stream == "HTTP/1.1 200 OK\r\nconnection: close\r\n\r\n")
        #expect(streamFraming == IngressResponseFraming(body: .untilClose, keepAlive: false))

        // A keep-alive HTTP/1.0 client without a length must still see the connection close.
        let keeping = IngressExchange(keepAlive: true, isHTTP10: true, isHeadRequest: false)
        #expect(Self.head(.ok, [:], answering: keeping).1 == IngressResponseFraming(body: .untilClose, keepAlive: false))
        let (fixed, fixedFraming) = Self.head(.ok, [.contentLength: "0"], answering: keeping)
        #expect(fixed == "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nconnection: keep-alive\r\n\r\n")
        #expect(fixedFraming.keepAlive)
    }

    @Test func bodilessStatusesAndHeadRequestsHaveNoBody() {
        let (noContent, framing) = Self.head(.noContent, [.contentLength: "5"])
        #expect(noContent == "HTTP/1.1 204 No Content\r\n\r\n")
        #expect(framing.body == .none && framing.encode(ByteBuffer(string: "x"), allocator: .init()) == nil)

        let head = IngressExchange(keepAlive: true, isHTTP10: false, isHeadRequest: true)
        let (text, headFraming) = Self.head(.ok, [.contentLength: "5"], answering: head)
        #expect(text == "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n")
        #expect(headFraming.body == .none)
    }

    @Test func aHandlerCanCloseButNotReframe() {
        let (text, framing) = Self.head(.ok, [.connection: "Close", .contentLength: "0"])
        #expect(text == "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nconnection: close\r\n\r\n")
        #expect(!framing.keepAlive)
        // A status built from a bare code gets its standard reason phrase.
        #expect(
            Self.head(HTTPResponse.Status(code: 429), [.contentLength: "0"]).0.hasPrefix("HTTP/1.1 429 Too Many Requests\r\n"))
    }
}
