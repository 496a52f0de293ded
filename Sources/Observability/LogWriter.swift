import Foundation
import Synchronization

/// Writes log lines to a file descriptor (stderr by default) from a thread of its own, so a
/// request's log line costs an append to memory, never a `write(2)` on an event loop (a terminal,
/// a slow pipe or a full disk would otherwise stall every connection on that loop).
///
/// The lines waiting are bounded (`capacity` bytes): past it, new lines are dropped and counted,
/// and a line saying how many is written once the writer has caught up. `flush()` waits until
/// everything appended so far is written; the server calls it before it exits.
public final class LogWriter: Sendable {
    public static let standardError = LogWriter(descriptor: 2)

    private struct Pending {
        var bytes: [UInt8] = []
        var dropped = 0
        /// Lines the descriptor refused (closed pipe, full disk, …), lost after being taken.
        var lost = 0
        /// Appended so far, and written so far (for `flush`).
        var appended = 0
        var written = 0
    }

    private let descriptor: Int32
    private let capacity: Int
    private let pending = Mutex(Pending())
    // NSCondition is Sendable on Linux's Foundation only as @unchecked: it guards nothing of
    // ours (the Mutex does); it only wakes the writer thread and `flush` waiters.
    nonisolated(unsafe) private let signal = NSCondition()

    public init(descriptor: Int32, capacity: Int = 8 << 20) {
        self.descriptor = descriptor
        self.capacity = capacity
        let thread = Thread { [self] in run() }
        thread.name = "switchyard-log"
        thread.start()
    }

    /// Queues one line (it ends with a newline); drops it if `capacity` bytes already wait.
    public func append(_ line: [UInt8]) {
        let queued = pending.withLock { pending -> Bool in
            guard pending.bytes.count + line.count <= capacity else {
                pending.dropped += 1
                return false
            }
            let wasEmpty = pending.bytes.isEmpty
            pending.bytes += line
            pending.appended += 1
            return wasEmpty
        }
        if queued {
            signal.lock()
            signal.signal()
            signal.unlock()
        }
    }

    /// Lines dropped since start because the writer could not keep up.
    public var droppedLines: Int { pending.withLock { $0.dropped } }

    /// Lines lost since start because the descriptor refused them (a closed pipe, a full disk).
    public var lostLines: Int { pending.withLock { $0.lost } }

    /// Returns once every line appended before the call is written (or `timeout` has passed).
    public func flush(timeout: Duration = .seconds(5)) {
        let target = pending.withLock { $0.appended }
        let (seconds, attoseconds) = timeout.components
        let deadline = Date().addingTimeInterval(Double(seconds) + Double(attoseconds) / 1e18)
        signal.lock()
        defer { signal.unlock() }
        signal.broadcast()
        while pending.withLock({ $0.written < target }) {
            guard signal.wait(until: deadline) else { return }
        }
    }

    private func run() {
        var reportedDrops = 0
        // Two buffers swapped: appends fill one while this thread writes the other, and neither
        // is reallocated once grown.
        var writing: [UInt8] = []
        while true {
            signal.lock()
            while pending.withLock({ $0.bytes.isEmpty }) { signal.wait() }
            signal.unlock()
            let (lines, dropped) = pending.withLock { pending in
                swap(&pending.bytes, &writing)
                return (pending.appended - pending.written, pending.dropped)
            }
            let written = write(writing)
            writing.removeAll(keepingCapacity: true)
            if dropped > reportedDrops {
                write(Array("\(dropped - reportedDrops) log lines dropped: the log could not be written fast enough\n".utf8))
                reportedDrops = dropped
            }
            pending.withLock { pending in
                pending.written += lines
                if !written { pending.lost += lines }
            }
            signal.lock()
            signal.broadcast()
            signal.unlock()
        }
    }

    /// Whether every byte was written. A descriptor that would block (a non-blocking pipe) is
    /// waited for: this thread is the only one that waits, and appends are bounded meanwhile.
    @discardableResult
    private func write(_ bytes: [UInt8]) -> Bool {
        bytes.withUnsafeBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let result = Foundation.write(descriptor, buffer.baseAddress! + offset, buffer.count - offset)
                if result > 0 {
                    offset += result
                } else if result < 0 && errno == EINTR {
                    continue
                } else if result < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) {
                    var ready = pollfd(fd: descriptor, events: Int16(POLLOUT), revents: 0)
                    _ = poll(&ready, 1, 1000)
                } else {
                    return false  // nowhere to write: the lines are lost (and counted), the process goes on
                }
            }
            return true
        }
    }
}
