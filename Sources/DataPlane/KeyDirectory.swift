import Logging
import ServiceLifecycle
import Storage
import SwitchyardCore
import Synchronization

/// Resolves presented API keys to principals from an in-memory copy of the key table.
///
/// The copy is refreshed every `refreshInterval`, so a revoked key stops working within that
/// time on every replica; a key created since the last refresh is looked up in the store on
/// first use. If the store is down, keys already known keep working (a database outage must not
/// become an authentication outage) and unknown keys are refused.
public final class KeyDirectory: Service {
    public enum Failure: Error, Equatable {
        case missing
        case malformed
        case unknown
        case revoked
        case expired
        case storeUnavailable

        /// What the client is told. Revoked/expired are named only after the secret matched.
        public var message: String {
            switch self {
            case .missing:
                "No API key provided. Send it as 'Authorization: Bearer sk-sy-…' or in the 'x-api-key' header."
            case .malformed: "The API key provided is not a Switchyard key (they start with 'sk-sy-')."
            case .unknown: "Incorrect API key provided."
            case .revoked: "This API key has been revoked."
            case .expired: "This API key has expired."
            case .storeUnavailable: "The key store is unavailable; try again shortly."
            }
        }
    }

    private let store: SQLStore
    private let keys = Mutex<[String: APIKeyRecord]>([:])
    /// Ids looked up in the store and not found since the last refresh, so a flood of made-up
    /// keys costs one query per id per refresh interval, not one per request.
    private let missing = Mutex<Set<String>>([])
    private static let maximumMissing = 100_000
    private let refreshInterval: Duration
    private let logger: Logger

    /// Raised when another replica announces a key change (PostgreSQL): refresh now, so a
    /// revocation takes effect in milliseconds rather than at the next poll.
    public let changed = RefreshSignal()

    public init(store: SQLStore, refreshInterval: Duration = .seconds(2), logger: Logger) {
        self.store = store
        self.refreshInterval = refreshInterval
        self.logger = logger
    }

    public func refresh() async throws {
        let records = try await store.keys()
        let byID = Dictionary(records.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
        keys.withLock { $0 = byID }
        missing.withLock { $0.removeAll(keepingCapacity: true) }
    }

    public func run() async throws {
        // Stops at once on graceful shutdown rather than after the current sleep.
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                await self.changed.wait(upTo: self.refreshInterval)
                if Task.isCancelled { break }
                do {
                    try await self.refresh()
                } catch {
                    self.logger.warning("key refresh failed; serving cached keys", metadata: ["error": "\(error)"])
                }
            }
        }
    }

    public func authenticate(_ presented: String?, now: UnixMicros = .now()) async -> Result<APIKeyRecord, Failure> {
        guard let presented, !presented.isEmpty else { return .failure(.missing) }
        guard let id = APIKeyFormat.keyID(of: presented) else { return .failure(.malformed) }
        var record = keys.withLock { $0[id] }
        if record == nil {
            if missing.withLock({ $0.contains(id) }) { return .failure(.unknown) }
            do {
                record = try await store.key(id: id)
            } catch {
                return .failure(.storeUnavailable)
            }
            if let record {
                keys.withLock { $0[id] = record }
            } else {
                missing.withLock { if $0.count < Self.maximumMissing { $0.insert(id) } }
            }
        }
        guard let record, APIKeyFormat.matches(presented, record) else { return .failure(.unknown) }
        if record.revokedAt != nil { return .failure(.revoked) }
        if let expiresAt = record.expiresAt, expiresAt <= now { return .failure(.expired) }
        return .success(record)
    }
}
