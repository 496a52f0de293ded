import NIOCore
import SwitchyardCore

/// What one attempt asks of a provider: the endpoint under its base URL, the body, and client
/// headers it should see as sent (e.g. `anthropic-version` when passing through). Both depend on
/// the deployment (its model, its provider's format). Its adapter addresses and authenticates
/// it as an `UpstreamRequest`.
public struct UpstreamCall: Sendable {
    public var path: String
    public var body: [UInt8]
    public var headers: [(String, String)]

    public init(path: String, body: [UInt8], headers: [(String, String)] = []) {
        self.path = path
        self.body = body
        self.headers = headers
    }
}

/// An `UpstreamCall` as the transport sends it: addressed and authenticated by the provider's
/// adapter, with its deadlines.
public struct UpstreamRequest: Sendable {
    public var url: String
    public var headers: [(String, String)]
    public var body: [UInt8]
    public var timeouts: Timeouts
    /// Pooled connections to this upstream at most.
    public var maxConnections: Int
    /// POST for API calls; GET for health probes.
    public var isProbe = false
    /// Set for answers read whole (non-streamed calls): the transport may then collect the body,
    /// at most this many bytes, before answering. Nil: the body streams.
    public var wholeBodyLimit: Int?

    public init(url: String, headers: [(String, String)], body: [UInt8], timeouts: Timeouts, maxConnections: Int = 64) {
        self.url = url
        self.headers = headers
        self.body = body
        self.timeouts = timeouts
        self.maxConnections = maxConnections
    }
}

/// A provider's answer once its status and headers have arrived; the body may still be streaming.
public struct UpstreamResponse: Sendable {
    public var status: Int
    public var contentType: String?
    /// The upstream's `Retry-After`, in seconds or as an HTTP date.
    public var retryAfter: Duration?
    public var body: UpstreamBody

    public init(status: Int, contentType: String?, retryAfter: Duration? = nil, body: UpstreamBody) {
        self.status = status
        self.contentType = contentType
        self.retryAfter = retryAfter
        self.body = body
    }
}

/// The response body as it arrives. Dropping it before the end cancels the upstream request.
public struct UpstreamBody: AsyncSequence, Sendable {
    public typealias Element = ByteBuffer
    private enum Storage: Sendable {
        case stream(@Sendable () -> AsyncIterator)
        /// Already read whole by the transport.
        case whole(ByteBuffer)
    }
    private let storage: Storage

    public init<Base: AsyncSequence & Sendable>(_ base: Base) where Base.Element == ByteBuffer {
        storage = .stream({
            let box = IteratorBox(base.makeAsyncIterator())
            return AsyncIterator { try await box.next() }
        })
    }

    /// A body that has arrived whole.
    public static func whole(_ buffer: ByteBuffer) -> UpstreamBody { UpstreamBody(storage: .whole(buffer)) }

    private init(storage: Storage) { self.storage = storage }

    public static func bytes(_ chunks: [[UInt8]]) -> UpstreamBody {
        UpstreamBody(ChunkSequence(chunks: chunks.map { ByteBuffer(bytes: $0) }))
    }

    public func makeAsyncIterator() -> AsyncIterator {
        switch storage {
        case .stream(let makeIterator): return makeIterator()
        case .whole(let buffer):
            let box = IteratorBox(ChunkSequence(chunks: [buffer]).makeAsyncIterator())
            return AsyncIterator { try await box.next() }
        }
    }

    /// A reference to the underlying iterator, so a deadline can race it from a child task.
    /// Use it from one task at a time.
    public struct AsyncIterator: AsyncIteratorProtocol, @unchecked Sendable {
        let nextClosure: @Sendable () async throws -> ByteBuffer?

        public mutating func next() async throws -> ByteBuffer? { try await nextClosure() }

        /// The next chunk, or an `upstreamTimeout` failure if none arrives within `limit` (nil: the
        /// transport enforces the deadline itself).
        public func next(within limit: Duration?) async throws -> ByteBuffer? {
            guard let limit else { return try await nextClosure() }
            return try await race(nextClosure, against: limit) { "no data from upstream for \(limit)" }
        }
    }

    /// Reads the whole body, failing past `limit` bytes.
    public func collect(upTo limit: Int) async throws -> [UInt8] {
        if case .whole(let buffer) = storage {
            guard buffer.readableBytes <= limit else { throw Self.tooLarge(limit) }
            return Array(buffer.readableBytesView)
        }
        var bytes: [UInt8] = []
        for try await buffer in self {
            guard bytes.count + buffer.readableBytes <= limit else { throw Self.tooLarge(limit) }
            bytes += buffer.readableBytesView
        }
        return bytes
    }

    static func tooLarge(_ limit: Int) -> UpstreamFailure {
        UpstreamFailure(.upstreamError, "upstream response larger than \(limit) bytes")
    }

    /// Holds a mutable iterator behind a reference; used sequentially only.
    final class IteratorBox<Base: AsyncIteratorProtocol>: @unchecked Sendable where Base.Element == ByteBuffer {
        var base: Base
        init(_ base: Base) { self.base = base }
        func next() async throws -> ByteBuffer? { try await base.next() }
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
    public var allowsFallback: Bool { errorClass.isRetryable }
}

/// Runs `operation`, failing with an `upstreamTimeout` if it takes longer than `limit`.
public func withUpstreamDeadline<T: Sendable>(
    _ limit: Duration, _ what: String, _ operation: @escaping @Sendable () async throws(UpstreamFailure) -> T
) async throws(UpstreamFailure) -> T {
    do {
        return try await race(operation, against: limit) { "\(what) took longer than \(limit)" }
    } catch let failure as UpstreamFailure {
        throw failure
    } catch is CancellationError {
        throw UpstreamFailure(.clientCancelled, "request cancelled")
    } catch {
        throw UpstreamFailure(.upstreamUnavailable, "\(error)")
    }
}

/// Runs `operation` against a timer; the first to finish wins and the other is cancelled. The
/// timer ends it with an `upstreamTimeout` failure (its message is built only then: this runs
/// for every stream chunk).
func race<T: Sendable>(
    _ operation: @escaping @Sendable () async throws -> T, against limit: Duration,
    timeoutMessage: @escaping @Sendable () -> String
) async throws -> T {
    try await withThrowingTaskGroup(of: T.self) { group in
        group.addTask { try await operation() }
        group.addTask {
            try await cancellableSleep(for: limit)
            throw UpstreamFailure(.upstreamTimeout, timeoutMessage())
        }
        defer { group.cancelAll() }
        return try await group.next()!
    }
}

/// Sends requests to providers. A protocol so the HTTP client can be replaced (see BUILD-NOTES)
/// and so tests can replay recorded provider traffic.
public protocol UpstreamTransport: Sendable {
    func send(_ request: UpstreamRequest) async throws(UpstreamFailure) -> UpstreamResponse
    func shutdown() async
    /// Whether this transport itself ends `request` with an `upstreamTimeout` past its first-byte
    /// and idle deadlines, so the caller need not race a timer against every call and chunk.
    func enforcesDeadlines(_ request: UpstreamRequest) -> Bool
}

extension UpstreamTransport {
    public func enforcesDeadlines(_ request: UpstreamRequest) -> Bool { false }
}
