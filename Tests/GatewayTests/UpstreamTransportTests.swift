import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTLS
import HummingbirdTesting
import NIOCore
import NIOSSL
import SwitchyardCore
import Synchronization
import TestSupport
import Testing

@testable import Providers

/// The upstream transport against a real server on a local socket, over plain HTTP (the direct
/// SwiftNIO transport) and over HTTPS (AsyncHTTPClient, which `NIOHTTPTransport` hands https
/// URLs to): the same caps, deadlines and error classes on both. Serialized: its deadline tests
/// use sub-second limits, and the suite's own floods running beside them made those limits flaky
/// on a loaded 2-core machine.
@Suite(.serialized) struct UpstreamTransportTests {
    enum Scheme: String, CaseIterable, Sendable {
        case http, https
    }

    /// The test upstream's certificate and key (self-signed for 127.0.0.1, `Tests/Fixtures/tls`).
    static let tlsDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/tls")
    static let certificate = try! NIOSSLCertificate.fromPEMFile(tlsDirectory.appendingPathComponent("upstream.cert.pem").path)
    static let privateKey = try! NIOSSLPrivateKey(
        file: tlsDirectory.appendingPathComponent("upstream.key.pem").path, format: .pem)

    /// The gateway's transport: plain http direct on NIO, https through AsyncHTTPClient trusting
    /// the test certificate.
    static func transport() -> NIOHTTPTransport {
        var tls = TLSConfiguration.makeClientConfiguration()
        tls.trustRoots = .certificates(certificate)
        return NIOHTTPTransport(fallback: HTTPClientTransport(tlsConfiguration: tls))
    }

    /// Connections open and requests waiting for one, for an origin's cap of `limit`.
    static func counts(_ transport: NIOHTTPTransport, _ scheme: Scheme, port: Int, limit: Int = 4) -> (
        open: Int, idle: Int, waiting: Int
    ) {
        let key = UpstreamConnectionPool.Key(host: "127.0.0.1", port: port, limit: limit)
        switch scheme {
        case .http: return transport.pool.counts(key)
        case .https: return (transport.fallback as! HTTPClientTransport).slots.counts(key)
        }
    }

    /// Runs `body` with `router` served on a free port of 127.0.0.1, in `scheme`.
    static func serving(
        _ router: Router<BasicRequestContext>, _ scheme: Scheme, _ body: @Sendable (Int) async throws -> Void
    ) async throws {
        let configuration = ApplicationConfiguration(address: .hostname("127.0.0.1", port: 0))
        switch scheme {
        case .http:
            try await Application(router: router, configuration: configuration).test(.live) { client in
                try await body(try #require(client.port))
            }
        case .https:
            let tls = TLSConfiguration.makeServerConfiguration(
                certificateChain: certificate.map { .certificate($0) }, privateKey: .privateKey(privateKey))
            let application = Application(
                router: router, server: try .tls(.http1(), tlsConfiguration: tls), configuration: configuration)
            try await application.test(.live) { client in try await body(try #require(client.port)) }
        }
    }

    static func request(
        _ scheme: Scheme, _ port: Int, _ path: String, body: String = "{}", timeouts: Timeouts = Timeouts()
    ) -> UpstreamRequest {
        UpstreamRequest(
            url: "\(scheme.rawValue)://127.0.0.1:\(port)\(path)", headers: [("content-type", "application/json")],
            body: Array(body.utf8), timeouts: timeouts, maxConnections: 4)
    }

    static func upstream() -> Router<BasicRequestContext> {
        let router = Router()
        router.post("/echo") { request, _ -> Response in
            let body = try await request.body.collect(upTo: 1 << 20)
            return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: body))
        }
        router.post("/stream") { _, _ -> Response in
            Response(
                status: .ok, headers: [.contentType: "text/event-stream"],
                body: ResponseBody { writer in
                    for index in 0..<200 {
                        try await writer.write(ByteBuffer(string: "data: \(index)\n\n"))
                        try await Task.sleep(for: .milliseconds(2))
                    }
                    try await writer.finish(nil)
                })
        }
        router.post("/flood") { _, _ -> Response in
            Response(
                status: .ok, headers: [.contentType: "text/event-stream"],
                body: ResponseBody { writer in
                    for index in 0..<3000 {
                        try await writer.write(ByteBuffer(string: "data: \(index) \(String(repeating: "x", count: 500))\n\n"))
                    }
                    try await writer.finish(nil)
                })
        }
        router.post("/slow-head") { _, _ -> Response in
            try await Task.sleep(for: .seconds(5))
            return Response(status: .ok)
        }
        router.post("/stall") { _, _ -> Response in
            Response(
                status: .ok, headers: [.contentType: "text/event-stream"],
                body: ResponseBody { writer in
                    try await writer.write(ByteBuffer(string: "data: first\n\n"))
                    try await Task.sleep(for: .seconds(5))
                    try await writer.finish(nil)
                })
        }
        router.post("/busy") { _, _ -> Response in
            Response(status: .tooManyRequests, headers: [HTTPField.Name("retry-after")!: "7"], body: .init())
        }
        return router
    }

    @Test(arguments: Scheme.allCases) func keepsConnectionsAliveAndRecoversFromAbandonedStreams(_ scheme: Scheme) async throws {
        try await Self.serving(Self.upstream(), scheme) { port in
            let transport = Self.transport()
            for index in 0..<30 {
                let response = try await transport.send(Self.request(scheme, port, "/echo", body: #"{"n":\#(index)}"#))
                #expect(response.status == 200 && response.contentType == "application/json")
                #expect(String(decoding: try await response.body.collect(upTo: 1000), as: UTF8.self) == #"{"n":\#(index)}"#)
            }
            // A stream dropped after its first chunk closes that connection; the next request is served.
            do {
                let stream = try await transport.send(Self.request(scheme, port, "/stream"))
                var chunks = stream.body.makeAsyncIterator()
                #expect(try await chunks.next() != nil)
            }
            if scheme == .https {
                // Its slot came back with the dropped body (plain http's pool keeps idle connections open).
                try await waitUntil("the dropped stream's slot given back") {
                    Self.counts(transport, scheme, port: port).open == 0
                }
            }
            let whole = try await transport.send(Self.request(scheme, port, "/stream"))
            let text = String(decoding: try await whole.body.collect(upTo: 1 << 20), as: UTF8.self)
            #expect(text.hasPrefix("data: 0\n\n") && text.hasSuffix("data: 199\n\n"))
            // Many at once: more than the idle pool keeps.
            try await withThrowingTaskGroup(of: Int.self) { group in
                for _ in 0..<16 { group.addTask { try await transport.send(Self.request(scheme, port, "/echo")).status } }
                for try await status in group { #expect(status == 200) }
            }
            let busy = try await transport.send(Self.request(scheme, port, "/busy"))
            #expect(busy.status == 429 && busy.retryAfter == .seconds(7))
            await transport.shutdown()
        }
    }

    /// A fast upstream and a slow reader: reading pauses and resumes, nothing is lost or reordered,
    /// and the connection is reused afterwards.
    @Test(.timeLimit(.minutes(1)), arguments: Scheme.allCases) func aSlowReaderGetsAFastStreamWhole(_ scheme: Scheme) async throws
    {
        try await Self.serving(Self.upstream(), scheme) { port in
            let transport = Self.transport()
            for _ in 0..<2 {
                let response = try await transport.send(Self.request(scheme, port, "/flood"))
                var text = ""
                var pieces = 0
                for try await piece in response.body {
                    text += String(buffer: piece)
                    pieces += 1
                    if pieces % 50 == 0 { try await Task.sleep(for: .milliseconds(5)) }
                }
                let events = text.split(separator: "\n\n")
                #expect(events.count == 3000)
                #expect(events.enumerated().allSatisfy { $1.hasPrefix("data: \($0) ") })
                #expect(try await transport.send(Self.request(scheme, port, "/echo")).status == 200)
            }
            await transport.shutdown()
        }
    }

    /// The transport enforces the first-byte and idle deadlines itself (the gateway then races no timer).
    @Test(arguments: Scheme.allCases) func firstByteAndIdleDeadlinesEndTheRequest(_ scheme: Scheme) async throws {
        try await Self.serving(Self.upstream(), scheme) { port in
            let transport = Self.transport()
            // Loose enough for a loaded machine, far below the upstream's 5 s silences.
            let tight = Timeouts(connect: .seconds(2), firstByte: .seconds(1), idle: .milliseconds(500))
            #expect(transport.enforcesDeadlines(Self.request(scheme, port, "/slow-head")))
            let started = ContinuousClock.now
            await Self.expectFailure(.upstreamTimeout, "time to first byte", otherwise: "a slow head was waited for") {
                _ = try await transport.send(Self.request(scheme, port, "/slow-head", timeouts: tight))
            }
            #expect(ContinuousClock.now - started < .seconds(3))

            let stalled = try await transport.send(Self.request(scheme, port, "/stall", timeouts: tight))
            var chunks = stalled.body.makeAsyncIterator()
            #expect(try await chunks.next().map { String(buffer: $0) } == "data: first\n\n")
            await Self.expectFailure(.upstreamTimeout, "no data from upstream", otherwise: "a silent stream was waited for") {
                _ = try await chunks.next()
            }
            #expect(ContinuousClock.now - started < .seconds(4.5))

            // A consumer slower than the idle limit is not the upstream's silence. (The limit is
            // a second, not less: under a full test run the upstream itself can pause that long.)
            let patient = Timeouts(connect: .seconds(5), firstByte: .seconds(5), idle: .seconds(1))
            let flood = try await transport.send(Self.request(scheme, port, "/flood", timeouts: patient))
            var pieces = 0
            for try await _ in flood.body {
                pieces += 1
                if pieces == 100 { try await Task.sleep(for: .milliseconds(2500)) }
            }
            #expect(pieces >= 100)
            await transport.shutdown()
        }
    }

    /// The total deadline ends an answer that keeps coming or stalls, however short its silences.
    @Test(arguments: Scheme.allCases) func theTotalDeadlineEndsAnAnswerUnderWay(_ scheme: Scheme) async throws {
        try await Self.serving(Self.upstream(), scheme) { port in
            let transport = Self.transport()
            let limited = Timeouts(connect: .seconds(2), firstByte: .seconds(2), idle: .seconds(30), total: .seconds(1))
            let started = ContinuousClock.now
            let stalled = try await transport.send(Self.request(scheme, port, "/stall", timeouts: limited))
            var chunks = stalled.body.makeAsyncIterator()
            #expect(try await chunks.next().map { String(buffer: $0) } == "data: first\n\n")
            await Self.expectFailure(.upstreamTimeout, "upstream took longer than", otherwise: "the total deadline was passed") {
                _ = try await chunks.next()
            }
            #expect(ContinuousClock.now - started < .seconds(4.5))  // the upstream is silent for 5 s
            await transport.shutdown()
        }
    }

    /// A connection's one timer, armed for a late deadline by an earlier exchange, still wakes
    /// a later exchange on the same (pooled) connection at its own, earlier deadline.
    @Test(arguments: Scheme.allCases) func aReusedConnectionKeepsTheNextExchangesEarlierDeadline(_ scheme: Scheme) async throws {
        try await Self.serving(Self.upstream(), scheme) { port in
            let transport = Self.transport()
            let loose = Timeouts(connect: .seconds(2), firstByte: .seconds(60), idle: .seconds(60))
            for _ in 0..<3 {
                let echoed = try await transport.send(Self.whole(scheme, port, "/echo", timeouts: loose))
                #expect(echoed.status == 200)
            }
            let tight = Timeouts(connect: .seconds(2), firstByte: .seconds(1), idle: .milliseconds(500))
            let started = ContinuousClock.now
            await Self.expectFailure(.upstreamTimeout, "time to first byte", otherwise: "a slow head was waited for") {
                _ = try await transport.send(Self.request(scheme, port, "/slow-head", timeouts: tight))
            }
            #expect(ContinuousClock.now - started < .seconds(3), "took \(ContinuousClock.now - started)")
            await transport.shutdown()
        }
    }

    /// `body` must fail with `errorClass` and a message containing `text`; `otherwise` says what
    /// went wrong if it succeeds.
    static func expectFailure(
        _ errorClass: ErrorClass, _ text: String, otherwise: String, _ body: () async throws -> Void
    ) async {
        do {
            try await body()
            Issue.record("\(otherwise)")
        } catch let failure as UpstreamFailure {
            #expect(failure.errorClass == errorClass && failure.message.contains(text), "\(failure.message)")
        } catch {
            Issue.record("unexpected error: \(error)")
        }
    }

    static func whole(
        _ scheme: Scheme, _ port: Int, _ path: String, limit: Int = 1 << 20, timeouts: Timeouts = Timeouts()
    ) -> UpstreamRequest {
        var request = request(scheme, port, path, timeouts: timeouts)
        request.wholeBodyLimit = limit
        return request
    }

    /// Non-streamed calls: the transport reads the body whole before answering, within the
    /// limit and the same deadlines, and the connection goes back to the pool.
    @Test(arguments: Scheme.allCases) func wholeBodiesArriveOnceWithinTheLimitAndDeadlines(_ scheme: Scheme) async throws {
        try await Self.serving(Self.upstream(), scheme) { port in
            let transport = Self.transport()
            for index in 0..<20 {
                var request = Self.whole(scheme, port, "/echo")
                request.body = Array(#"{"n":\#(index)}"#.utf8)
                let response = try await transport.send(request)
                #expect(response.status == 200)
                #expect(String(decoding: try await response.body.collect(upTo: 1000), as: UTF8.self) == #"{"n":\#(index)}"#)
            }
            // 200 pieces over ~400 ms: one answer holding all of them, iterable as one piece.
            let streamed = try await transport.send(Self.whole(scheme, port, "/stream"))
            var pieces: [String] = []
            for try await piece in streamed.body { pieces.append(String(buffer: piece)) }
            #expect(pieces.count == 1)
            #expect(pieces.first?.hasPrefix("data: 0\n\n") == true && pieces.first?.hasSuffix("data: 199\n\n") == true)
            #expect(try await transport.send(Self.whole(scheme, port, "/busy")).status == 429)

            // Over the limit: refused as the upstream's error, and the next call still works.
            await Self.expectFailure(.upstreamError, "larger than 10000 bytes", otherwise: "a body over the limit was read") {
                _ = try await transport.send(Self.whole(scheme, port, "/flood", limit: 10_000))
            }
            #expect(try await transport.send(Self.whole(scheme, port, "/echo")).status == 200)

            let tight = Timeouts(connect: .seconds(2), firstByte: .seconds(1), idle: .milliseconds(500))
            let started = ContinuousClock.now
            await Self.expectFailure(.upstreamTimeout, "time to first byte", otherwise: "a slow head was waited for") {
                _ = try await transport.send(Self.whole(scheme, port, "/slow-head", timeouts: tight))
            }
            await Self.expectFailure(
                .upstreamTimeout, "no data from upstream", otherwise: "a body that went silent was waited for"
            ) {
                _ = try await transport.send(Self.whole(scheme, port, "/stall", timeouts: tight))
            }
            #expect(ContinuousClock.now - started < .seconds(4.5))
            await transport.shutdown()
        }
    }

    @Test func plainHTTPTargetsSplitOnce() throws {
        let target = try #require(PlainHTTPTarget("http://127.0.0.1:8080/v1/chat/completions"))
        #expect(target.host == "127.0.0.1" && target.port == 8080 && target.path == "/v1/chat/completions")
        #expect(target.hostHeader == "127.0.0.1:8080")
        let bare = try #require(PlainHTTPTarget("http://models.internal"))
        #expect(bare.host == "models.internal" && bare.port == 80 && bare.path == "/" && bare.hostHeader == "models.internal")
        #expect(PlainHTTPTarget("http://h:81?x=1")?.path == "/?x=1")
        #expect(PlainHTTPTarget("http://h:81?x=1")?.port == 81)
        for refused in [
            "https://api.openai.com/v1", "http://user@host/v1", "http://[::1]:80/", "http://:80/", "http://h:0/",
            "http://h:65536/", "http://h:8x/", "http://h:/", "http:///v1", "ftp://h/",
        ] {
            #expect(PlainHTTPTarget(refused) == nil, "\(refused)")
        }
    }

    @Test func anUnreachableUpstreamIsUnavailable() async throws {
        let transport = Self.transport()
        do {
            _ = try await transport.send(Self.request(.http, 1, "/echo"))
            Issue.record("port 1 answered")
        } catch {
            #expect(error.errorClass == .upstreamUnavailable)
        }
        await transport.shutdown()
    }

    final class InFlight: Sendable {
        let counts = Mutex((now: 0, most: 0))
    }

    /// An upstream that counts the requests it is answering at once, each taking 200 ms.
    static func countingUpstream(_ inFlight: InFlight) -> Router<BasicRequestContext> {
        let router = Router()
        router.post("/slow") { _, _ -> Response in
            inFlight.counts.withLock {
                $0.now += 1; $0.most = max($0.most, $0.now)
            }
            try await Task.sleep(for: .milliseconds(200))
            inFlight.counts.withLock { $0.now -= 1 }
            return Response(
                status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: "{}")))
        }
        return router
    }

    /// `maxConnections` caps connections open at once: twelve requests at once through a cap of
    /// four are all served, never more than four at the upstream, the rest waiting in line.
    @Test(arguments: Scheme.allCases) func maxConnectionsCapsOpenConnectionsAndQueuesTheRest(_ scheme: Scheme) async throws {
        let inFlight = InFlight()
        try await Self.serving(Self.countingUpstream(inFlight), scheme) { port in
            let transport = Self.transport()
            let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
                for _ in 0..<12 {
                    group.addTask {
                        let response = try await transport.send(Self.request(scheme, port, "/slow"))
                        _ = try await response.body.collect(upTo: 1024)
                        return response.status
                    }
                }
                // The cap is the transport's own line, on both schemes (not the HTTP client's).
                try await waitUntil("requests waiting in line for a connection") {
                    Self.counts(transport, scheme, port: port).waiting > 0
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(statuses == Array(repeating: 200, count: 12))
            #expect(inFlight.counts.withLock { $0.most } <= 4)
            let counts = Self.counts(transport, scheme, port: port)
            #expect(counts.open <= 4 && counts.waiting == 0, "\(counts)")
            await transport.shutdown()
        }
    }

    /// A cancelled request (its client left) ends the upstream call at once, is reported as the
    /// client's doing, and gives its connection slot back.
    @Test(arguments: Scheme.allCases) func aCancelledRequestEndsAndFreesItsSlot(_ scheme: Scheme) async throws {
        try await Self.serving(Self.upstream(), scheme) { port in
            let transport = Self.transport()
            let call = Task { try await transport.send(Self.request(scheme, port, "/slow-head")) }
            try await Task.sleep(for: .milliseconds(200))
            let started = ContinuousClock.now
            call.cancel()
            do {
                _ = try await call.value
                Issue.record("a cancelled call was answered")
            } catch let failure as UpstreamFailure {
                #expect(failure.errorClass == .clientCancelled, "\(failure)")
            }
            #expect(ContinuousClock.now - started < .seconds(4))  // /slow-head answers after 5 s
            try await waitUntil("the slot given back", every: .milliseconds(10)) {
                Self.counts(transport, scheme, port: port).open == 0
            }
            await transport.shutdown()
        }
    }
}
