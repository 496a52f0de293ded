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
/// moved at all, and once more on shutdown. The head is read once per `poll`, never per request.
public final class AuditCheckpointWriter: Service {
    private let store: SQLStore
    private let keyring: AuditKeyring
    private let file: String?
    private let post: (@Sendable ([UInt8]) async -> Void)?
    private let everyEntries: Int64
    private let interval: Duration
    private let poll: Duration
    private let logger: Logger
    private let last = Mutex<(sequence: Int64, hash: String, at: ContinuousClock.Instant)?>(nil)

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
        if let last = last.withLock({ $0 }) {
            if head.sequence < last.sequence || (head.sequence == last.sequence && head.hash != last.hash) {
                // Checkpointing this head would vouch for it; the previous checkpoint stays the evidence.
                logger.error(
                    "audit chain head went back or changed since the last checkpoint: entries were removed or rewritten",
                    metadata: ["checkpointed": "\(last.sequence)", "head": "\(head.sequence)"])
                return nil
            }
            guard head.sequence > last.sequence else { return nil }
            guard final || head.sequence - last.sequence >= everyEntries || now - last.at >= interval else { return nil }
        }
        let checkpoint = AuditCheckpoint(head: head, keyring: keyring)
        let line = checkpoint.line + "\n"
        if let file {
            do {
                try DurableFile.append(Array(line.utf8), to: file)
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
