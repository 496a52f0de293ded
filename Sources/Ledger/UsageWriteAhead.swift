import Foundation
import SwitchyardCore
import Synchronization

#if canImport(Glibc)
    import Glibc
#endif

/// Usage records on local disk before the responses that produced them end, so that a replica
/// killed outright (`kill -9`, the OOM killer) loses no record of an answer its client received.
///
/// - `append` only queues the record and wakes the writer thread; the request then awaits its
///   receipt, which the thread honours once the record's batch is written (`write(2)`: in the
///   page cache, which outlives the process). A batch is everything queued since the last write,
///   so under load one write serves many requests (group commit).
/// - The file is fsync'd every `syncInterval` while it changes, by a timer of its own (a slow
///   fsync never holds up a write): a power loss can lose that much.
/// - A receipt not honoured within `receiptDeadline` (a disk that stalls) is honoured anyway and
///   counted (`late`): requests never hang on the log.
/// - Written records go on to the ledger writer (`onWritten`), which tells `markSafe` once each
///   is in the store or the fsync'd journal. A segment of the log whose records are all safe is
///   deleted; segments left by a killed process are read back at the next start (`leftovers`).
/// - A failed write is logged by the caller (`failures`) and never holds a request: the record
///   still reaches the ledger writer, only without this guarantee.
public final class UsageWriteAhead: Sendable {
    public typealias Sequence = UInt64

    struct Segment {
        var number: Int
        /// The highest sequence written into it.
        var last: Sequence = 0
        /// Records in it not yet in the store or the journal.
        var outstanding = 0
        var bytes = 0
        var closed = false
    }

    struct State {
        var queued: [(Sequence, UsageRecord)] = []
        var next: Sequence = 1
        var written: Sequence = 0
        var waiters: [(sequence: Sequence, since: ContinuousClock.Instant, continuation: CheckedContinuation<Void, Never>)] = []
        var segments: [Segment] = []
        var stopped = false
        var running = false
        var exited = false
        var exitWaiters: [CheckedContinuation<Void, Never>] = []
        var failures = 0
        /// Receipts honoured by the deadline rather than by a write (a stalled disk).
        var late = 0
        /// The current segment's descriptor (-1: none open) and whether it has unsynced writes.
        /// Closed only under the lock, so the sync timer can duplicate it safely.
        var descriptor: Int32 = -1
        var dirty = false
        /// The writer thread is about to wait with nothing queued: the next append wakes it.
        /// Appends meanwhile do not signal (a signal per append would wake it once per record).
        var sleeping = false
    }

    private let state: Mutex<State>
    private let wake = DispatchSemaphore(value: 0)
    private let prefix: String
    private let syncInterval: Duration
    private let syncMilliseconds: Int
    private let segmentBytes: Int
    private let receiptDeadline: Duration
    // DispatchSource is thread-safe; the compiler cannot see it. Two timers on two queues: a
    // receipt's deadline must pass even while an fsync hangs on a stalled disk.
    nonisolated(unsafe) private let syncTimer: DispatchSourceTimer
    nonisolated(unsafe) private let expiryTimer: DispatchSourceTimer
    private let onWritten: @Sendable ([(Sequence, UsageRecord)]) -> Void
    /// Segment files a previous process left behind, oldest first.
    public let leftovers: [String]

    /// Segments are `PREFIX.N`; numbering continues after any left by a previous process.
    public init(
        prefix: String, syncInterval: Duration = .milliseconds(100), segmentBytes: Int = 8 << 20,
        receiptDeadline: Duration = .seconds(2), onWritten: @escaping @Sendable ([(Sequence, UsageRecord)]) -> Void
    ) {
        self.prefix = prefix
        self.syncInterval = syncInterval
        syncMilliseconds = max(1, Int(syncInterval / .milliseconds(1)))
        self.segmentBytes = segmentBytes
        self.receiptDeadline = receiptDeadline
        self.onWritten = onWritten
        let found = Self.segmentNumbers(prefix: prefix)
        leftovers = found.map { "\(prefix).\($0)" }
        state = Mutex(State(segments: [Segment(number: (found.last ?? 0) + 1)]))
        syncTimer = DispatchSource.makeTimerSource(queue: DispatchQueue(label: "switchyard.usage-write-ahead.sync"))
        expiryTimer = DispatchSource.makeTimerSource(queue: DispatchQueue(label: "switchyard.usage-write-ahead.expiry"))
        let interval = DispatchTimeInterval.milliseconds(syncMilliseconds)
        syncTimer.schedule(deadline: .now() + interval, repeating: interval)
        syncTimer.setEventHandler { [weak self] in self?.sync() }
        syncTimer.activate()
        expiryTimer.schedule(deadline: .now() + .milliseconds(250), repeating: .milliseconds(250))
        expiryTimer.setEventHandler { [weak self] in self?.expireLateReceipts() }
        expiryTimer.activate()
    }

    deinit {
        syncTimer.cancel()
        expiryTimer.cancel()
    }

    /// Receipts honoured by their deadline because the disk did not take the record in time.
    public var late: Int { state.withLock { $0.late } }

    /// fsyncs a duplicate of the current segment's descriptor if it changed (the duplicate stays
    /// valid when the writer closes its own).
    private func sync() {
        let copy = state.withLock { state -> Int32 in
            guard state.dirty && state.descriptor >= 0 else { return -1 }
            state.dirty = false
            return dup(state.descriptor)
        }
        guard copy >= 0 else { return }
        _ = fsync(copy)
        close(copy)
    }

    /// Honours receipts past their deadline (a disk that stalls holds no answer longer).
    private func expireLateReceipts() {
        let now = ContinuousClock.now
        let deadline = receiptDeadline
        let expired = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            var expired: [CheckedContinuation<Void, Never>] = []
            state.waiters.removeAll { waiter in
                guard now - waiter.since >= deadline else { return false }
                expired.append(waiter.continuation)
                return true
            }
            state.late += expired.count
            return expired
        }
        for continuation in expired { continuation.resume() }
    }

    /// Writes that failed since start (the records went on without the guarantee).
    public var failures: Int { state.withLock { $0.failures } }

    /// Queues `record`; its sequence is what `waitWritten` takes. Once stopped (a straggler at
    /// shutdown), the record goes on to the ledger writer at once, without the log.
    public func append(_ record: UsageRecord) -> Sequence {
        let (sequence, starting, waking) = state.withLock { state -> (Sequence, Bool, Bool) in
            guard !state.stopped else { return (0, false, false) }
            let sequence = state.next
            state.next += 1
            state.queued.append((sequence, record))
            defer {
                state.running = true
                state.sleeping = false
            }
            return (sequence, !state.running, state.sleeping)
        }
        guard sequence != 0 else {
            onWritten([(0, record)])
            return 0
        }
        if starting {
            let thread = Thread { [self] in run() }
            thread.name = "switchyard.usage-write-ahead"
            thread.start()
        } else if waking {
            wake.signal()
        }
        return sequence
    }

    /// Returns once the record of `sequence` is written (or its write failed).
    public func waitWritten(_ sequence: Sequence) async {
        if state.withLock({ $0.written >= sequence }) { return }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let now = state.withLock { state -> Bool in
                guard state.written < sequence, !state.stopped else { return true }
                state.waiters.append((sequence, .now, continuation))
                return false
            }
            if now { continuation.resume() }
        }
    }

    /// The records of `sequences` are in the store or the journal: their segments may go.
    public func markSafe(_ sequences: [Sequence]) {
        guard !sequences.isEmpty else { return }
        state.withLock { state in
            // Sequence 0: a record that never reached the log (its write failed, or after stop).
            for sequence in sequences where sequence != 0 {
                // Segments cover ascending ranges; the first whose last is at or past it holds it.
                guard let index = state.segments.firstIndex(where: { $0.last >= sequence }) else { continue }
                state.segments[index].outstanding -= 1
            }
        }
        wake.signal()
    }

    /// Ends the writer thread after it wrote what is queued and handed it on; waiters are released.
    public func stopAndWait() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let done = state.withLock { state -> Bool in
                state.stopped = true
                guard state.running && !state.exited else { return true }
                state.exitWaiters.append(continuation)
                return false
            }
            if done { continuation.resume() }
            wake.signal()
        }
    }

    private func run() {
        var bytes: [UInt8] = []
        while true {
            let idle = state.withLock { state in
                state.sleeping = state.queued.isEmpty && !state.stopped
                return state.sleeping
            }
            if idle { _ = wake.wait(timeout: .now() + .milliseconds(syncMilliseconds)) }
            let (batch, stopped) = state.withLock { state in
                state.sleeping = false
                defer { state.queued.removeAll(keepingCapacity: true) }
                return (state.queued, state.stopped)
            }
            if !batch.isEmpty { commit(batch, into: &bytes) }
            rotateIfFull()
            removeSafeSegments()
            if stopped && batch.isEmpty {
                let last = state.withLock { state in
                    defer { state.descriptor = -1 }
                    return state.descriptor
                }
                if last >= 0 {
                    _ = fsync(last)
                    close(last)
                }
                let waiters = state.withLock { state in
                    defer {
                        state.waiters.removeAll()
                        state.exitWaiters.removeAll()
                        state.exited = true
                    }
                    return state.waiters.map(\.continuation) + state.exitWaiters
                }
                removeSafeSegments()
                syncTimer.cancel()
                expiryTimer.cancel()
                for waiter in waiters { waiter.resume() }
                return
            }
        }
    }

    /// One group commit: the batch in one `write`, then its receipts honoured.
    private func commit(_ batch: [(Sequence, UsageRecord)], into bytes: inout [UInt8]) {
        bytes.removeAll(keepingCapacity: true)
        for (_, record) in batch { UsageRecordLine.append(record, to: &bytes) }
        let (number, open) = state.withLock { ($0.segments[$0.segments.count - 1].number, $0.descriptor) }
        var descriptor = open
        if descriptor < 0 {
            descriptor = Glibc.open("\(prefix).\(number)", O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o600)
        }
        let ok = descriptor >= 0 && Self.writeAll(bytes, to: descriptor)
        let last = batch[batch.count - 1].0
        let released = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            let current = state.segments.count - 1
            state.descriptor = descriptor
            if ok {
                state.segments[current].last = last
                state.segments[current].outstanding += batch.count
                state.segments[current].bytes += bytes.count
                state.dirty = true
            } else {
                // A partial write may have left a torn line: later batches go to a new segment
                // (the old one is synced and closed below, outside the lock).
                state.failures += 1
                state.descriptor = -1
                state.segments[current].closed = true
                state.segments.append(Segment(number: state.segments[current].number + 1))
            }
            state.written = last
            var released: [CheckedContinuation<Void, Never>] = []
            state.waiters.removeAll { waiter in
                guard waiter.sequence <= last else { return false }
                released.append(waiter.continuation)
                return true
            }
            return released
        }
        if !ok && descriptor >= 0 {
            _ = fsync(descriptor)
            close(descriptor)
        }
        // A record whose write failed is in no segment: it must never count against one.
        onWritten(ok ? batch : batch.map { (0, $0.1) })
        for continuation in released { continuation.resume() }
    }

    /// Starts a new segment when the current one is full; the old one is synced and closed
    /// outside the lock (a slow fsync must not hold up appends).
    private func rotateIfFull() {
        let full = state.withLock { state -> Int32? in
            let current = state.segments.count - 1
            guard state.segments[current].bytes >= segmentBytes else { return nil }
            defer { state.descriptor = -1 }
            state.dirty = false
            state.segments[current].closed = true
            state.segments.append(Segment(number: state.segments[current].number + 1))
            return state.descriptor
        }
        guard let full, full >= 0 else { return }
        _ = fsync(full)
        close(full)
    }

    /// Deletes closed segments (and, once stopped, the current one) whose records are all safe:
    /// after the ledger writer's last flush, every segment of a clean shutdown.
    public func removeSafeSegments() {
        let removable = state.withLock { state -> [Int] in
            var numbers: [Int] = []
            for (index, segment) in state.segments.enumerated() where segment.outstanding <= 0 {
                let isCurrent = index == state.segments.count - 1
                if segment.closed || (isCurrent && state.stopped && state.queued.isEmpty) { numbers.append(segment.number) }
            }
            state.segments.removeAll { numbers.contains($0.number) && $0.closed }
            return numbers
        }
        for number in removable { unlink("\(prefix).\(number)") }
    }

    private static func writeAll(_ bytes: [UInt8], to descriptor: Int32) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeBytes { write(descriptor, $0.baseAddress! + offset, $0.count - offset) }
            if written < 0 {
                if errno == EINTR { continue }
                return false
            }
            offset += written
        }
        return true
    }

    /// The numbers of `PREFIX.N` files in the prefix's directory, ascending.
    static func segmentNumbers(prefix: String) -> [Int] {
        let url = URL(fileURLWithPath: prefix)
        let directory = url.deletingLastPathComponent().path
        let name = url.lastPathComponent + "."
        let files = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return files.compactMap { $0.hasPrefix(name) ? Int($0.dropFirst(name.count)) : nil }.sorted()
    }
}

/// What a record's sink gives back: when the record is on local disk.
public struct UsageReceipt: Sendable {
    let sequence: UsageWriteAhead.Sequence
    let log: UsageWriteAhead?

    /// A sink that keeps no log (tests): the record is as safe as it will be.
    public static let immediate = UsageReceipt(sequence: 0, log: nil)

    /// Returns once the record is written where a crash of this process cannot lose it.
    public func written() async {
        guard let log else { return }
        await log.waitWritten(sequence)
    }
}
