import NIOCore
import SwitchyardCore

/// One HTTP request to a provider, fully prepared by an adapter.
public struct UpstreamRequest: Sendable {
    public var url: String
    public var headers: [(String, String)]
    public var body: [UInt8]
    /// Total time allowed, body streaming included.
    public var timeout: Duration

    public init(url: String, headers: [(String, String)], body: [UInt8], timeout: Duration) {
        self.url = url
        self.headers = headers
        self.body = body
        self.timeout = timeout
    }
}

/// A provider's answer once its status and headers have arrived; the body may still be streaming.
public struct UpstreamResponse: Sendable {
    public var status: Int
    public var contentType: String?
    public var body: UpstreamBody

    public init(status: Int, contentType: String?, body: UpstreamBody) {
        self.status = status
        self.contentType = contentType
        self.body = body
    }
}

/// The response body as it arrives. Dropping it before the end cancels the upstream request.
public struct UpstreamBody: AsyncSequence, Sendable {
    public typealias Element = ByteBuffer
    private let makeIteratorClosure: @Sendable () -> AsyncIterator

    public init<Base: AsyncSequence & Sendable>(_ base: Base) where Base.Element == ByteBuffer {
        makeIteratorClosure = {
            var iterator = base.makeAsyncIterator()
            return AsyncIterator { try await iterator.next() }
        }
    }

    public static func bytes(_ chunks: [[UInt8]]) -> UpstreamBody {
        UpstreamBody(ChunkSequence(chunks: chunks.map { ByteBuffer(bytes: $0) }))
    }

    public func makeAsyncIterator() -> AsyncIterator { makeIteratorClosure() }

    public struct AsyncIterator: AsyncIteratorProtocol {
        let nextClosure: () async throws -> ByteBuffer?

        public mutating func next() async throws -> ByteBuffer? { try await nextClosure() }
    }

    /// Reads the whole body, failing past `limit` bytes.
    public func collect(upTo limit: Int) async throws -> [UInt8] {
        var bytes: [UInt8] = []
        for try await buffer in self {
            guard bytes.count + buffer.readableBytes <= limit else {
                throw UpstreamFailure(.upstreamError, "upstream response larger than \(limit) bytes")
            }
            bytes += buffer.readableBytesView
        }
        return bytes
    }

    struct ChunkSequence: AsyncSequence, Sendable {
        let chunks: [ByteBuffer]

        func makeAsyncIterator() -> Iterator { Iterator(chunks: chunks) }

        struct Iterator: AsyncIteratorProtocol {
            var chunks: [ByteBuffer]
            mutating func next() async throws -> ByteBuffer? { chunks.isEmpty ? nil : chunks.removeFirst() }
        }
    }
}

/// Why an upstream call failed before a response could be relayed.
public struct UpstreamFailure: Error, Sendable, CustomStringConvertible {
    public var errorClass: ErrorClass
    public var message: String

    public init(_ errorClass: ErrorClass, _ message: String) {
        self.errorClass = errorClass
        self.message = message
    }

    public var description: String { "\(errorClass.rawValue): \(message)" }

    /// Whether the next deployment of a route may be tried.
    public var allowsFallback: Bool {
        switch errorClass {
        case .upstreamUnavailable, .upstreamTimeout, .upstreamError, .rateLimited: true
        default: false
        }
    }
}

/// Sends requests to providers. A protocol so the HTTP client can be replaced (see BUILD-NOTES)
/// and so tests can replay recorded provider traffic.
public protocol UpstreamTransport: Sendable {
    func send(_ request: UpstreamRequest) async throws(UpstreamFailure) -> UpstreamResponse
    func shutdown() async
}
