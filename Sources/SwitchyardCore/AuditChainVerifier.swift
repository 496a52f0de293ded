/// Checks a chain of entries read in sequence order: each entry's hash and link, its MAC when
/// the audit keys are given, its place in its tenant's numbering, and the chain against signed
/// checkpoints of its head kept outside the database.
///
/// The hash chain alone only catches edits by someone who does not recompute the hashes; anyone
/// who can write the database can. MACs need a key the database does not hold, and checkpoints
/// catch what MACs cannot: entries cut off the end.
public struct AuditChainVerifier: Sendable {
    public enum Break: Hashable, Sendable, CustomStringConvertible {
        /// The entry's content does not match its hash: it was edited.
        case altered(sequence: Int64)
        /// The entry does not point at the entry before it: one was deleted, inserted or reordered.
        case unlinked(sequence: Int64, expectedPrevious: String)
        /// A sequence number is missing or repeated.
        case gap(expected: Int64, found: Int64)
        /// The entry's MAC does not match its content: edited (hashes recomputed or not), renumbered
        /// or made up by someone without the audit key.
        case forged(sequence: Int64)
        /// The entry carries no MAC though an entry before it (or a checkpoint of it) does: its MAC
        /// was stripped, or it was written without the key.
        case unsigned(sequence: Int64)
        /// The entry names a key that `audit.key_env` does not list: a removed key, or a made-up id.
        case unknownKey(sequence: Int64, keyID: String)
        /// The entry's place in its tenant's numbering is wrong: its tenant was changed, or it was
        /// hidden from the tenant's view.
        case misnumbered(sequence: Int64, expected: Int64?)
        /// The entry differs from a checkpoint taken of it.
        case checkpointMismatch(sequence: Int64, checkpointTime: UnixMicros)
        /// The chain ends before `sequence`, but a checkpoint recorded entry `checkpointed`:
        /// entries were cut off the end.
        case truncated(sequence: Int64, checkpointed: Int64)

        /// The first entry that is wrong (or, when truncated, the first one missing).
        public var sequence: Int64 {
            switch self {
            case .altered(let sequence), .unlinked(let sequence, _), .forged(let sequence), .unsigned(let sequence),
                .unknownKey(let sequence, _), .misnumbered(let sequence, _), .checkpointMismatch(let sequence, _),
                .truncated(let sequence, _):
                sequence
            case .gap(_, let found): found
            }
        }

        public var description: String {
            switch self {
            case .altered(let sequence): "entry \(sequence) was altered: its content does not match its hash"
            case .unlinked(let sequence, _):
                "entry \(sequence) does not follow the entry before it (an entry was removed, inserted or reordered)"
            case .gap(let expected, let found): "expected entry \(expected) but found \(found) (entries missing or reordered)"
            case .forged(let sequence):
                "entry \(sequence) has a MAC that does not match its content (edited, renumbered or forged without the audit key)"
            case .unsigned(let sequence):
                "entry \(sequence) carries no MAC though the entries before it are signed (MAC stripped, or forged)"
            case .unknownKey(let sequence, let keyID):
                "entry \(sequence) is signed with key \(keyID), which audit.key_env does not list (a removed key, or forged)"
            case .misnumbered(let sequence, let expected):
                "entry \(sequence) has the wrong place in its tenant's numbering (expected \(expected.map(String.init) ?? "none")): its tenant was changed or it was hidden"
            case .checkpointMismatch(let sequence, let time):
                "entry \(sequence) differs from the checkpoint of it taken at \(time.iso8601) (the chain was rewritten)"
            case .truncated(let sequence, let checkpointed):
                "entries from \(sequence) on are missing: a checkpoint recorded entry \(checkpointed) (entries were cut off the end)"
            }
        }
    }

    private let keyring: AuditKeyring?
    /// Sorted by sequence; `nextCheckpoint` is the first not yet reached.
    private let checkpoints: [AuditCheckpoint]
    private var nextCheckpoint = 0
    private var expectedSequence: Int64 = 1
    private var previousHash = AuditEntry.genesisHash
    private var signedSeen = false
    private var tenantCounts: [String: Int64] = [:]
    public private(set) var checked = 0
    public private(set) var firstBreak: Break?
    /// The last entry checked: the chain's head when the whole chain was walked.
    public private(set) var head: (sequence: Int64, hash: String)?
    /// Entries before the first signed one (appended before a key was configured): their MACs
    /// cannot be checked, only their hashes and, from a checkpoint, their content.
    public private(set) var unsignedBeforeFirstSigned: Int64 = 0

    /// With `keyring`, every MAC is checked; without, only that no unsigned entry follows a signed
    /// one. `checkpoints` are taken as given: check their own MACs first.
    public init(keyring: AuditKeyring? = nil, checkpoints: [AuditCheckpoint] = []) {
        self.keyring = keyring
        self.checkpoints = checkpoints.sorted { $0.sequence < $1.sequence }
    }

    public var checksMACs: Bool { keyring != nil }

    /// The checkpoint with the highest sequence.
    public var latestCheckpoint: AuditCheckpoint? { checkpoints.last }

    /// Feeds the next entry; after the first break, later entries are not judged.
    public mutating func check(_ entry: AuditEntry) {
        guard firstBreak == nil else { return }
        checked += 1
        firstBreak = findBreak(entry)
        expectedSequence = entry.sequence + 1
        previousHash = entry.hash
        head = (entry.sequence, entry.hash)
    }

    /// After the last entry: the chain must reach every checkpoint.
    public mutating func finish() {
        guard firstBreak == nil, let latest = checkpoints.last else { return }
        let end = head?.sequence ?? 0
        if latest.sequence > end { firstBreak = .truncated(sequence: end + 1, checkpointed: latest.sequence) }
    }

    private mutating func findBreak(_ entry: AuditEntry) -> Break? {
        if entry.sequence != expectedSequence { return .gap(expected: expectedSequence, found: entry.sequence) }
        if entry.computedHash != entry.hash { return .altered(sequence: entry.sequence) }
        if entry.previousHash != previousHash {
            return .unlinked(sequence: entry.sequence, expectedPrevious: previousHash)
        }
        if let mac = entry.mac, let keyID = entry.keyID {
            signedSeen = true
            if let keyring {
                switch keyring.verify(mac: mac, keyID: keyID, over: entry.canonicalBytes) {
                case .valid: break
                case .invalid: return .forged(sequence: entry.sequence)
                case .unknownKey: return .unknownKey(sequence: entry.sequence, keyID: keyID)
                }
            }
        } else if entry.mac != nil || entry.keyID != nil {
            return .forged(sequence: entry.sequence)
        } else if signedSeen {
            return .unsigned(sequence: entry.sequence)
        } else {
            unsignedBeforeFirstSigned += 1
        }
        if let tenant = entry.tenant {
            let expected = (tenantCounts[tenant] ?? 0) + 1
            guard entry.tenantSequence == expected else { return .misnumbered(sequence: entry.sequence, expected: expected) }
            tenantCounts[tenant] = expected
        } else if entry.tenantSequence != nil {
            return .misnumbered(sequence: entry.sequence, expected: nil)
        }
        while nextCheckpoint < checkpoints.count, checkpoints[nextCheckpoint].sequence <= entry.sequence {
            let checkpoint = checkpoints[nextCheckpoint]
            nextCheckpoint += 1
            guard checkpoint.sequence == entry.sequence else { continue }
            if checkpoint.hash != entry.hash {
                return .checkpointMismatch(sequence: entry.sequence, checkpointTime: checkpoint.time)
            }
            // From a signed head on, the tail must stay signed: stripping every MAC is caught too.
            if checkpoint.headSigned, entry.mac == nil { return .unsigned(sequence: entry.sequence) }
        }
        return nil
    }
}
