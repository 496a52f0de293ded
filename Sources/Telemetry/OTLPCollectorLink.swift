import AsyncHTTPClient
import Logging
import NIOCore
import Synchronization

/// The trace exporter's collector: the HTTP client it posts with, and a warning for failed posts
/// at most once a minute (a collector that is gone must not flood the log). The URL is logged
/// without credentials.
final class OTLPCollectorLink: Sendable {
    private let endpoint: String
    private let logger: Logger
    private let lastWarning = Mutex<ContinuousClock.Instant?>(nil)

    init(endpoint: String, logger: Logger) {
        self.endpoint = endpoint
        self.logger = logger
    }

    /// A client whose connect and read timeouts are `timeoutMilliseconds`: the read timeout bounds
    /// a collector that answers its head and then stalls. Made in an exporter's `run` and shut
    /// down there (only `run` is sure to end).
    static func makeClient(timeoutMilliseconds: Int) -> HTTPClient {
        let timeout = TimeAmount.milliseconds(Int64(timeoutMilliseconds))
        return HTTPClient(
            eventLoopGroupProvider: .singleton,
            configuration: HTTPClient.Configuration(timeout: .init(connect: timeout, read: timeout)))
    }

    /// Logs `message` unless a warning went out less than a minute ago.
    func warn(_ message: Logger.Message, _ metadata: Logger.Metadata) {
        let now = ContinuousClock.now
        let due = lastWarning.withLock { last in
            guard last.map({ now - $0 >= .seconds(60) }) ?? true else { return false }
            last = now
            return true
        }
        guard due else { return }
        var metadata = metadata
        metadata["endpoint"] = .string(TraceExportSettings.withoutCredentials(endpoint))
        logger.warning(message, metadata: metadata)
    }
}
