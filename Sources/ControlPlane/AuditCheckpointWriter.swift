import Foundation
import Ledger
import Logging
import ServiceLifecycle
import Storage
import SwitchyardCore
import Synchronization

/// Writes signed checkpoints of the audit chain's head outside the database (an fsync'd line in
/// `audit.checkpoint_file`, and/or a POST to the alert webhook), so `switchyard audit verify
/// --checkpoints` finds entries cut off the end, which no MAC can show. A checkpoint is written
/// when the head has moved `everyEntries` entries, or `interval` after the last one when it has
/// moved at all, and once more on shutdown. The head is read once per `poll`, never per request;
/// a head that goes back between two checkpoints is caught there, and the head read before it is
/// checkpointed as the evidence.
public final class AuditCheckpointWriter: Service {
    private let store: SQLStore
    private let keyring: AuditKeyring
    private let file: String?
    /// The checkpoint file's appends and fsyncs: a queue of its own (see `BlockingIO`).
    private let fileIO = BlockingIO(label: "switchyard.audit-checkpoints")
    private let post: (@Sendable ([UInt8]) async -> Void)?
    private let everyEntries: Int64
    private let interval: Duration
    private let poll: Duration
    private let logger: Logger
    private let last = Mutex<(sequence: Int64, hash: String, at: ContinuousClock.Instant)?>(nil)
    /// The furthest head read so far, checkpointed or not: a chain cut back behind it between two
    /// checkpoints is caught at the next poll, and this head is checkpointed as the evidence.
    private let seen = Mutex<AuditEntry?>(nil)

    public init(
        store: SQLStore, keyring: AuditKeyring, file: String?, post: (@Sendable ([UInt8]) async -> Void)?,
        everyEntries: Int, interval: Duration, poll: Duration = .seconds(1), logger: Logger
    ) {
        self.store = store
        self.keyring = keyring
        self.file = file
        self.post = post
        self.everyEntries = Int64(everyEntries)
        self.interval = interval
        self.poll = min(poll, interval)
        self.logger = logger
    }

    public func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                await self.checkpointIfDue()
                try? await Task.sleep(for: self.poll)
            }
        }
        // This service stops after the audit trail has flushed: the last head is the final one.
        await checkpointIfDue(final: true)
    }

    /// Reads the head and writes a checkpoint of it when one is due. Returns the one written.
    @discardableResult
    public func checkpointIfDue(final: Bool = false) async -> AuditCheckpoint? {
        let head: AuditEntry
        do {
            guard let found = try await store.auditHead() else { return nil }
            head = found
        } catch {
            logger.warning("audit checkpoint: cannot read the chain's head", metadata: ["error": "\(error)"])
            return nil
        }
        let now = ContinuousClock.now
        let last = self.last.withLock { $0 }
        if let seen = seen.withLock({ $0 }) {
            guard let holds = await stillHolds(seen, head: head) else { return nil }  // judged at the next poll
            if !holds {
                // The head read before is the real history: checkpoint it (unless it already is),
                // so `audit verify --checkpoints` shows the cut. Then follow the chain as it now is,
                // so a later cut leaves evidence too (the evidence keeps failing verify).
                logger.error(
                    "audit chain head went back or changed since it was last read: entries were removed or rewritten",
                    metadata: ["seen": "\(seen.sequence)", "head": "\(head.sequence)"])
                self.seen.withLock { $0 = head }
                defer { self.last.withLock { $0 = nil } }
                guard last?.sequence != seen.sequence || last?.hash != seen.hash else { return nil }
                return await write(seen, at: now)
            }
        }
        seen.withLock { $0 = head }
        if let last {
            guard head.sequence > last.sequence else { return nil }
            guard final || head.sequence - last.sequence >= everyEntries || now - last.at >= interval else { return nil }
        }
        return await write(head, at: now)
    }

    /// Whether the chain still holds `seen` as it was read: the head has not gone back, and the
    /// entry at its place is the same one (a cut followed by new appends must not pass).
    /// Nil when that cannot be read now.
    private func stillHolds(_ seen: AuditEntry, head: AuditEntry) async -> Bool? {
        if head.sequence <= seen.sequence { return head.sequence == seen.sequence && head.hash == seen.hash }
        guard let atSeen = try? await store.auditEntries(after: seen.sequence - 1, limit: 1) else { return nil }
        return atSeen.first?.sequence == seen.sequence && atSeen.first?.hash == seen.hash
    }

    private func write(_ head: AuditEntry, at now: ContinuousClock.Instant) async -> AuditCheckpoint? {
        let checkpoint = AuditCheckpoint(head: head, keyring: keyring)
        let line = checkpoint.line + "\n"
        if let file {
            do {
                try await fileIO.run { try DurableFile.append(Array(line.utf8), to: file) }
            } catch {
                logger.error("audit checkpoint: cannot write the file", metadata: ["file": "\(file)", "error": "\(error)"])
                return nil
            }
        }
        if let post { await post(Array(checkpoint.line.utf8)) }
        last.withLock { $0 = (head.sequence, head.hash, now) }
        logger.debug("audit checkpoint written", metadata: ["sequence": "\(head.sequence)"])
        return checkpoint
    }
}
