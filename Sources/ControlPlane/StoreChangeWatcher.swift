import Logging
import ServiceLifecycle
import Storage

/// On PostgreSQL, hears the changes other replicas (and the CLI) announce in the store and
/// raises the matching watcher's signal, so a kill switch, a key revocation or a governance
/// revision reaches this replica in milliseconds; the watchers' polls stay as the fallback.
public final class StoreChangeWatcher: Service {
    private let listener: PostgresChangeListener

    public init(url: String, signals: [StoreChange: RefreshSignal], logger: Logger) {
        listener = PostgresChangeListener(
            url: url, onChange: { signals[$0]?.raise() },
            onConnectionLost: { logger.warning("store change notices lost; polling meanwhile", metadata: ["error": "\($0)"]) }
        )
    }

    public func run() async throws {
        listener.start()
        try? await gracefulShutdown()
        listener.stop()
    }
}
