import HTTPTypes
import NIOCore
import Testing

@testable import Ingress

/// The client request reader against wire bytes recorded from the official SDKs, fed whole,
/// byte by byte and cut at every position, and against the malformed and ambiguous requests a
/// server must refuse (RFC 9112).
@Suite struct IngressRequestParserTests {
    struct Read: Equatable {
        var method: String
        var path: String
        var authority: String?
        var fields: [String] = []
        var keepAlive = true
        var isHTTP10 = false
        var expectsContinue = false
        var body = ""
        var ended = false
    }

    /// Feeds `pieces` in order, taking every part as soon as it is complete (as an idle
    /// connection does); the requests read, and the refusal if one came.
    static func read(_ pieces: [String], maxBodyBytes: Int = .max) -> (requests: [Read], refusal: IngressRefusal?) {
        var parser = IngressRequestParser(maxBodyBytes: maxBodyBytes)
        var requests: [Read] = []
        do {
            for piece in pieces {
                parser.append(ByteBuffer(string: piece))
                while let part = try parser.next() {
                    switch part {
                    case .head(let head):
                        let request = head.request
                        requests.append(
                            Read(
                                method: request.method.rawValue, path: request.path ?? "", authority: request.authority,
                                fields: request.headerFields.map { "\($0.name.canonicalName): \($0.value)" },
                                keepAlive: head.keepAlive, isHTTP10: head.isHTTP10, expectsContinue: head.expectsContinue))
                    case .body(let piece): requests[requests.count - 1].body += String(buffer: piece)
                    case .end: requests[requests.count - 1].ended = true
                    }
                }
            }
            return (requests, nil)
        } catch {
            return (requests, error)
        }
    }

    /// The same requests whole, byte by byte, and cut in two at every position.
    static func expectSameEverySplit(_ wire: String, _ expected: [Read]) {
        let whole = read([wire])
        #expect(whole.refusal == nil, "\(whole.refusal?.message ?? "")")
        #expect(whole.requests == expected)
        #expect(read(wire.utf8.map { String(decoding: [$0], as: UTF8.self) }).requests == expected)
        let bytes = Array(wire.utf8)
        for cut in 1..<bytes.count {
            let pieces = [String(decoding: bytes[..<cut], as: UTF8.self), String(decoding: bytes[cut...], as: UTF8.self)]
            #expect(read(pieces).requests == expected, "cut at \(cut)")
        }
    }

    /// Recorded from the `openai` Python SDK 3.54 (`chat.completions.create(stream=True)`).
    static let openAISDK =
        "POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1:9991\r\nAccept-Encoding: gzip, deflate\r\n"
        + "Connection: keep-alive\r\nauthorization: Bearer sk-test\r\naccept: application/json\r\n"
        + "content-type: application/json\r\nuser-agent: OpenAI/Python 3.54.0\r\nx-stainless-lang: python\r\n"
        + "x-stainless-retry-count: 0\r\nContent-Length: 71\r\n\r\n"
        + #"{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}"#

    /// Recorded from the `anthropic` Python SDK 2.12 (`messages.create`).
    static let anthropicSDK =
        "POST /v1/messages HTTP/1.1\r\nHost: 127.0.0.1:9992\r\nAccept-Encoding: gzip, deflate\r\nConnection: keep-alive\r\n"
        + "X-Stainless-OS: Linux\r\nAuthorization: Bearer sk-test\r\nanthropic-version: 2026-10-21\r\nContent-Length: 72\r\n\r\n"
        + #"{"max_tokens":5,"messages":[{"role":"user","content":"hi"}],"model":"m"}"#

    @Test func readsTheSDKsRequestsAtEveryCut() {
        Self.expectSameEverySplit(
            Self.openAISDK,
            [
                Read(
                    method: "POST", path: "/v1/chat/completions", authority: "127.0.0.1:9991",
                    fields: [
                        "accept-encoding: gzip, deflate", "connection: keep-alive", "authorization: Bearer sk-test",
                        "accept: application/json", "content-type: application/json", "user-agent: OpenAI/Python 3.54.0",
                        "x-stainless-lang: python", "x-stainless-retry-count: 0", "content-length: 71",
                    ],
                    body: #"{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}"#, ended: true)
            ])
    }

    @Test func readsPipelinedRequestsOneAfterAnother() {
        let get = "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
        let expected = [
            Read(method: "GET", path: "/healthz", authority: "x", ended: true),
            Read(
                method: "POST", path: "/v1/messages", authority: "127.0.0.1:9992",
                fields: [
                    "accept-encoding: gzip, deflate", "connection: keep-alive", "x-stainless-os: Linux",
                    "authorization: Bearer sk-test", "anthropic-version: 2026-10-21", "content-length: 72",
                ],
                body: #"{"max_tokens":5,"messages":[{"role":"user","content":"hi"}],"model":"m"}"#, ended: true),
            Read(method: "GET", path: "/healthz", authority: "x", ended: true),
        ]
        // Blank lines between requests are allowed (RFC 9112 §2.2).
        Self.expectSameEverySplit(get + Self.anthropicSDK + "\r\n" + get, expected)
    }

    @Test func readsAChunkedBodyWithExtensionsAndTrailers() {
        let wire =
            "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
            + "5 ;name=value\r\nhello\r\n1\r\n \r\nA\r\n0123456789\r\n0\r\nX-Trailer: t\r\n\r\n"
        Self.expectSameEverySplit(
            wire,
            [
                Read(
                    method: "POST", path: "/echo", authority: "x", fields: ["transfer-encoding: chunked"],
                    body: "hello 0123456789", ended: true)
            ])
    }

    @Test func connectionSemanticsFollowTheVersion() {
        let (requests, refusal) = Self.read([
            "GET /a HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
                + "GET /b HTTP/1.0\r\n\r\n" + "GET /c HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n"
                + "POST /d HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\nz"
        ])
        #expect(refusal == nil)
        #expect(requests.map(\.keepAlive) == [false, false, true, true])
        #expect(requests.map(\.isHTTP10) == [false, true, true, false])
        #expect(requests.map(\.expectsContinue) == [false, false, false, true])
    }

    @Test func takesThePathOfAnAbsoluteTarget() {
        let (requests, _) = Self.read([
            "GET http://gateway:8080/v1/models?x=1 HTTP/1.1\r\nHost: gateway:8080\r\n\r\n"
                + "GET https://gateway HTTP/1.1\r\nHost: gateway\r\n\r\n"
        ])
        #expect(requests.map(\.path) == ["/v1/models?x=1", "/"])
    }

    @Test func acceptsRepeatedEqualLengths() {
        let (requests, refusal) = Self.read(["POST /e HTTP/1.1\r\nHost: x\r\nContent-Length: 2, 2\r\n\r\nok"])
        #expect(refusal == nil && requests.first?.body == "ok")
    }

    /// Each of these could be read two ways by two parsers (request smuggling) or is not HTTP/1.1.
    @Test(arguments: [
        ("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", 400, "both"),
        ("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n", 400, "both"),
        ("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501, "Only the chunked"),
        ("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", 400, "last transfer coding"),
        ("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n", 400, "last"),
        ("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\n\r\n", 400, "last transfer coding"),
        ("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400, "HTTP/1.0"),
        ("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n", 400, "conflicting"),
        ("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3, 4\r\n\r\n", 400, "conflicting"),
        ("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +3\r\n\r\n", 400, "not a length"),
        ("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0x10\r\n\r\n", 400, "not a length"),
        ("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999\r\n\r\n", 400, "not a length"),
        ("POST / HTTP/1.1\r\nHost: x\r\nContent-Length : 3\r\n\r\n", 400, "header name"),
        ("GET / HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n folded\r\n\r\n", 400, "folded"),
        ("GET / HTTP/1.1\r\nHost: x\nX-A: 1\r\n\r\n", 400, "LF alone"),
        ("GET / HTTP/1.1\r\nHost: x\r\nX-A: a\rb\r\n\r\n", 400, "CR that does not end"),
        ("GET / HTTP/1.1\r\nHost: x\r\nX-A: a\u{0}b\r\n\r\n", 400, "control character"),
        ("GET / HTTP/1.1\r\nX-A: 1\r\n\r\n", 400, "no Host"),
        ("GET / HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n", 400, "more than one Host"),
        ("GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505, "HTTP/2.0"),
        ("GET / HTTP/1.1 \r\nHost: x\r\n\r\n", 400, "request line"),
        ("GET  / HTTP/1.1\r\nHost: x\r\n\r\n", 400, "request line"),
        ("GET /a b HTTP/1.1\r\nHost: x\r\n\r\n", 400, "request line"),
        ("G(T / HTTP/1.1\r\nHost: x\r\n\r\n", 400, "method"),
        ("GET relative HTTP/1.1\r\nHost: x\r\n\r\n", 400, "neither a path"),
        ("GET /\u{7F} HTTP/1.1\r\nHost: x\r\n\r\n", 400, "visible ASCII"),
        ("NOT HTTP AT ALL\r\n\r\n", 400, "request line"),
        ("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400, "chunk size"),
        ("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5 x\r\nhello\r\n", 400, "chunk size"),
        ("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1000000000000000\r\n", 400, "chunk size"),
        ("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n", 400, "longer than its size"),
        ("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\nab\r\n", 400, "LF alone"),
        // A Transfer-Encoding that names no coding, next to a Content-Length.
        ("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding:\r\nContent-Length: 3\r\n\r\nabc", 400, "names no transfer coding"),
        ("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: ,\r\nContent-Length: 3\r\n\r\nabc", 400, "names no transfer coding"),
        ("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: , ,\r\n\r\n", 400, "names no transfer coding"),
        (
            "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding:\r\n\r\n", 400,
            "names no transfer coding"
        ),
        (
            "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: ,\r\nTransfer-Encoding: chunked\r\n\r\n", 400,
            "names no transfer coding"
        ),
        // Bare LF line ends: no CRLFCRLF will ever come, so it is refused before the head ends.
        ("GET / HTTP/1.1\nHost: x\n\n", 400, "does not end with CRLF"),
        ("GET / HTTP/1.1\nHost: x\n", 400, "does not end with CRLF"),
    ])
    func refusesAmbiguousAndMalformedRequests(wire: String, status: Int, reason: String) {
        let (_, refusal) = Self.read([wire])
        #expect(refusal?.status == status, "\(wire.debugDescription): \(refusal?.message ?? "accepted")")
        #expect(refusal?.message.contains(reason) == true, "\(refusal?.message ?? "accepted")")
    }

    @Test func refusesOversizedHeads() {
        let big = "GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + String(repeating: "a", count: 70_000) + "\r\n\r\n"
        #expect(Self.read([big]).refusal?.status == 431)
        // Refused before the end of the head arrives: nothing unbounded is held.
        #expect(Self.read([String(big.prefix(66_000))]).refusal?.status == 431)
        let many = "GET / HTTP/1.1\r\nHost: x\r\n" + String(repeating: "X-A: 1\r\n", count: 300) + "\r\n"
        #expect(Self.read([many]).refusal?.status == 431)
    }

    /// A body announced over the limit is 413 once the head is read, not after the body (or the
    /// read timeout); a chunked body is measured as it arrives, by the connection.
    @Test func refusesAnAnnouncedBodyOverTheLimitAtTheHead() {
        let head = "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1025\r\n\r\n"
        let refused = Self.read([head], maxBodyBytes: 1024)
        #expect(refused.refusal?.status == 413 && refused.requests.isEmpty)
        let atLimit = Self.read(["POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1024\r\n\r\n"], maxBodyBytes: 1024)
        #expect(atLimit.refusal == nil && atLimit.requests.count == 1)
    }

    /// A CRLF split between two reads is not a bare LF.
    @Test func aLineEndSplitBetweenReadsIsNotABareLineFeed() {
        let (requests, refusal) = Self.read(["GET / HTTP/1.1\r", "\nHost: x\r", "\n\r", "\n"])
        #expect(refusal == nil && requests.count == 1)
    }

    @Test func refusesOverlongChunkLines() {
        let wire = "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1;" + String(repeating: "e", count: 5000)
        #expect(Self.read([wire]).refusal?.status == 400)
    }

    /// A head trickling in byte by byte is still read once whole (the scan resumes where it stopped).
    @Test func readsAHeadTrickledByteByByte() {
        let wire = "GET / HTTP/1.1\r\nHost: x\r\nX-Pad: " + String(repeating: "p", count: 20_000) + "\r\n\r\n"
        let (requests, refusal) = Self.read(wire.utf8.map { String(decoding: [$0], as: UTF8.self) })
        #expect(refusal == nil && requests.count == 1 && requests.first?.ended == true)
    }
}
