import NIOCore
import NIOPosix
import Synchronization

/// The keep-alive connections to upstream origins, with at most `limit` open to one origin at
/// once, idle and busy together (a provider's `max_connections`). A request finds an idle
/// connection, or a slot to open one, or waits in line for either; the line is bounded
/// (`waitersPerConnection` per allowed connection) and a wait ends at the request's deadline or
/// when its task is cancelled.
///
/// A slot is taken when a connection is about to be opened and given back when that connection
/// closes (its close future), however it closes: so the count cannot drift.
final class UpstreamConnectionPool: Sendable {
    /// One pool per origin and limit: two providers on one origin with different limits keep
    /// separate caps.
    struct Key: Hashable, Sendable {
        var host: String
        var port: Int
        var limit: Int
    }

    enum Grant: Sendable {
        /// A live idle connection, now the caller's.
        case pooled(any Channel)
        /// A slot: the caller opens a connection and hands it to `opened`, or calls `abandon`.
        case connect
    }

    struct Full: Error {}
    struct NoConnectionInTime: Error {}

    static let waitersPerConnection = 16

    private struct Waiter {
        var id: UInt64
        var continuation: CheckedContinuation<Grant, any Error>
    }

    private struct Origin {
        var open = 0
        /// Most recently used last.
        var idle: [any Channel] = []
        var waiters: [Waiter] = []
    }

    private let origins = Mutex<[Key: Origin]>([:])
    private let shutDown = Atomic<Bool>(false)
    private let nextWaiter = Atomic<UInt64>(0)

    /// An idle connection (preferring one on the caller's event loop), a slot, or a place in
    /// line until `deadline`.
    func acquire(_ key: Key, deadline: NIODeadline) async throws -> Grant {
        let here = MultiThreadedEventLoopGroup.currentEventLoop
        // The usual case, without a suspension: an idle connection or a free slot.
        if let grant = origins.withLock({ Self.grantNow(&$0[key, default: Origin()], key, here) }) { return grant }
        let id = nextWaiter.wrappingAdd(1, ordering: .relaxed).newValue
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Grant, any Error>) in
                // Asked again under the same lock that queues us: a slot freed meanwhile is not missed.
                let now: Result<Grant, any Error>? = origins.withLock { origins in
                    var origin = origins[key, default: Origin()]
                    defer { origins[key] = origin }
                    if let grant = Self.grantNow(&origin, key, here) { return .success(grant) }
                    guard origin.waiters.count < key.limit * Self.waitersPerConnection else { return .failure(Full()) }
                    origin.waiters.append(Waiter(id: id, continuation: continuation))
                    return nil
                }
                if let now { return continuation.resume(with: now) }
                // In line: the deadline, or a cancellation that came before the handler could see us.
                (here ?? MultiThreadedEventLoopGroup.singleton.any()).scheduleTask(deadline: deadline) {
                    self.leaveLine(key, id, NoConnectionInTime())
                }
                if Task.isCancelled { leaveLine(key, id, CancellationError()) }
            }
        } onCancel: {
            leaveLine(key, id, CancellationError())
        }
    }

    /// Counts a connection opened on a slot, so its close gives the slot back.
    func opened(_ channel: any Channel, _ key: Key) {
        channel.closeFuture.whenComplete { _ in self.closed(channel, key) }
    }

    /// Gives back a slot whose connection could not be opened.
    func abandon(_ key: Key) {
        slotFreed(key, channel: nil)
    }

    /// A connection whose exchange has ended: to the first in line, or idle, or closed.
    func release(_ channel: any Channel, _ key: Key, reusable: Bool) {
        guard reusable, channel.isActive, !shutDown.load(ordering: .relaxed) else {
            channel.close(promise: nil)
            return
        }
        let waiter = origins.withLock { origins -> Waiter? in
            guard var origin = origins[key] else { return nil }
            defer { origins[key] = origin }
            if !origin.waiters.isEmpty { return origin.waiters.removeFirst() }
            origin.idle.append(channel)
            return nil
        }
        waiter?.continuation.resume(returning: .pooled(channel))
    }

    func shutdown() async {
        shutDown.store(true, ordering: .relaxed)
        let (channels, waiters) = origins.withLock { origins in
            defer { origins = [:] }
            return (origins.values.flatMap(\.idle), origins.values.flatMap(\.waiters))
        }
        for waiter in waiters { waiter.continuation.resume(throwing: CancellationError()) }
        for channel in channels { try? await channel.close() }
    }

    /// How many connections are open to the origin and how many requests wait (for tests).
    func counts(_ key: Key) -> (open: Int, idle: Int, waiting: Int) {
        origins.withLock { origins in
            let origin = origins[key] ?? Origin()
            return (origin.open, origin.idle.count, origin.waiters.count)
        }
    }

    private func closed(_ channel: any Channel, _ key: Key) {
        slotFreed(key, channel: channel)
    }

    /// A connection closed (or was never opened): its slot goes to the first in line, who opens
    /// a connection of its own.
    private func slotFreed(_ key: Key, channel: (any Channel)?) {
        let waiter = origins.withLock { origins -> Waiter? in
            guard var origin = origins[key] else { return nil }
            defer { origins[key] = origin }
            if let channel { origin.idle.removeAll { $0 === channel } }
            if origin.waiters.isEmpty {
                origin.open -= 1
                return nil
            }
            return origin.waiters.removeFirst()  // the slot passes on: `open` stays
        }
        waiter?.continuation.resume(returning: .connect)
    }

    private func leaveLine(_ key: Key, _ id: UInt64, _ error: any Error) {
        let waiter = origins.withLock { origins -> Waiter? in
            guard let index = origins[key]?.waiters.firstIndex(where: { $0.id == id }) else { return nil }
            return origins[key]!.waiters.remove(at: index)
        }
        waiter?.continuation.resume(throwing: error)
    }

    private static func grantNow(_ origin: inout Origin, _ key: Key, _ here: (any EventLoop)?) -> Grant? {
        if let channel = take(from: &origin.idle, preferring: here) { return .pooled(channel) }
        guard origin.open < key.limit else { return nil }
        origin.open += 1
        return .connect
    }

    static func take(from pool: inout [any Channel], preferring here: (any EventLoop)?) -> (any Channel)? {
        if let here, let index = pool.lastIndex(where: { $0.eventLoop === here && $0.isActive }) {
            return pool.remove(at: index)
        }
        while let channel = pool.popLast() {
            if channel.isActive { return channel }
        }
        return nil
    }
}
