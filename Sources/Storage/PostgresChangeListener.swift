import CLibPQ
import Foundation
import Synchronization

/// Listens for `StoreChange` notices on a PostgreSQL connection of its own, on a thread of its
/// own (libpq blocks), and hands each to `onChange`. A lost connection is reconnected after 1 s,
/// then 2, 4, … up to 30 s while it stays lost (reported once per outage); what changed meanwhile
/// is picked up by the watchers' polls, which stay as the fallback. `stop()` ends the thread
/// within half a second, or once a connection attempt under way gives up (`connect_timeout`).
/// Nothing waits for the thread: it never holds up a shutdown.
public final class PostgresChangeListener: Sendable {
    private let url: String
    private let onChange: @Sendable (StoreChange) -> Void
    private let onConnectionLost: @Sendable (String) -> Void
    private let stopped = Atomic<Bool>(false)

    public init(
        url: String, onChange: @escaping @Sendable (StoreChange) -> Void,
        onConnectionLost: @escaping @Sendable (String) -> Void = { _ in }
    ) {
        self.url = url
        self.onChange = onChange
        self.onConnectionLost = onConnectionLost
    }

    public func start() {
        let thread = Thread { [self] in run() }
        thread.name = "switchyard.store-changes"
        thread.start()
    }

    public func stop() { stopped.store(true, ordering: .relaxed) }

    private func run() {
        var failures = 0
        while !stopped.load(ordering: .relaxed) {
            let handle = PQconnectdb(PostgresConnection.withNetworkDefaults(url))
            defer { PQfinish(handle) }
            if PQstatus(handle) == CONNECTION_OK, listen(on: handle) {
                failures = 0
                // Anything missed while not listening is the polls' to find; from here on, at once.
                for change in StoreChange.allCases { onChange(change) }
                receive(on: handle)
            }
            guard !stopped.load(ordering: .relaxed) else { return }
            if failures == 0 {
                onConnectionLost(String(cString: PQerrorMessage(handle)).trimmingCharacters(in: .whitespacesAndNewlines))
            }
            let tenths = min(10 << min(failures, 5), 300)
            failures += 1
            for _ in 0..<tenths where !stopped.load(ordering: .relaxed) { usleep(100_000) }
        }
    }

    private func listen(on handle: OpaquePointer?) -> Bool {
        let result = PQexec(handle, "LISTEN \(StoreChange.channel)")
        defer { PQclear(result) }
        return PQresultStatus(result) == PGRES_COMMAND_OK
    }

    /// Until the connection fails or `stop()`: waits for input half a second at a time.
    private func receive(on handle: OpaquePointer?) {
        var socket = pollfd(fd: PQsocket(handle), events: Int16(POLLIN), revents: 0)
        while !stopped.load(ordering: .relaxed) {
            let ready = poll(&socket, 1, 500)
            if ready < 0 && errno != EINTR { return }
            guard ready > 0 else { continue }
            guard PQconsumeInput(handle) == 1, PQstatus(handle) == CONNECTION_OK else { return }
            while let notice = PQnotifies(handle) {
                let payload = String(cString: notice.pointee.extra)
                PQfreemem(notice)
                if let change = StoreChange(rawValue: payload) { onChange(change) }
            }
        }
    }
}
