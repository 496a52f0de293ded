import Crypto

/// One line of the tamper-evident audit trail: who did what to which thing, when, and how it
/// changed. Never holds a secret: keys appear by id only.
public struct AuditEntry: Hashable, Sendable, Codable {
    /// Position in the chain, from 1, without gaps.
    public var sequence: Int64
    public var time: UnixMicros
    /// Who acted: `admin`, `cli`, `key:<id>`, `config`, or `switchyard` for the gateway itself.
    public var principal: String
    /// What happened, e.g. `key.create`, `policy.refuse`, `budget.threshold`, `budget.exhausted`.
    public var action: String
    /// What it happened to, e.g. `key:abc123def456`, `budget:acme-monthly`.
    public var target: String
    /// The tenant the entry belongs to (nil for gateway-wide entries), so tenants see only theirs.
    public var tenant: String?
    /// JSON of the state before and after a change; nil when there was none.
    public var before: String?
    public var after: String?
    /// Free text: the rule that refused, the threshold crossed.
    public var detail: String?
    /// Hex SHA-256 of the previous entry (64 zeros before the first).
    public var previousHash: String
    /// Hex SHA-256 over `canonicalBytes`.
    public var hash: String

    public static let genesisHash = String(repeating: "0", count: 64)

    /// An entry to be appended: sequence, previous hash and hash are filled in by the chain.
    public init(
        time: UnixMicros = .now(), principal: String, action: String, target: String, tenant: String?,
        before: String? = nil, after: String? = nil, detail: String? = nil
    ) {
        self.sequence = 0
        self.time = time
        self.principal = principal
        self.action = action
        self.target = target
        self.tenant = tenant
        self.before = before
        self.after = after
        self.detail = detail
        self.previousHash = Self.genesisHash
        self.hash = ""
    }

    /// Every field but `hash`, each as its length and bytes, so no two different entries (not even
    /// ones that move a character from one field to the next) share a canonical form.
    public var canonicalBytes: [UInt8] {
        var bytes: [UInt8] = []
        func field(_ value: String?) {
            guard let value else {
                bytes.append(contentsOf: Array("-;".utf8))
                return
            }
            bytes.append(contentsOf: Array("\(value.utf8.count):".utf8))
            bytes.append(contentsOf: Array(value.utf8))
            bytes.append(UInt8(ascii: ";"))
        }
        field("switchyard-audit-v1")
        field(String(sequence))
        field(String(time.value))
        field(principal)
        field(action)
        field(target)
        field(tenant)
        field(before)
        field(after)
        field(detail)
        field(previousHash)
        return bytes
    }

    public var computedHash: String { AuditEntry.hex(SHA256.hash(data: canonicalBytes)) }

    /// This entry placed after `previous` (nil: first), with its hash computed.
    public func chained(after previous: (sequence: Int64, hash: String)?) -> AuditEntry {
        var entry = self
        entry.sequence = (previous?.sequence ?? 0) + 1
        entry.previousHash = previous?.hash ?? Self.genesisHash
        entry.hash = entry.computedHash
        return entry
    }

    static func hex(_ digest: SHA256.Digest) -> String {
        digest.map { byte in
            let text = String(byte, radix: 16)
            return byte < 16 ? "0" + text : text
        }.joined()
    }
}

/// Checks a chain of entries read in sequence order.
public struct AuditChainVerifier: Sendable {
    public enum Break: Hashable, Sendable, CustomStringConvertible {
        /// The entry's content does not match its hash: it was edited.
        case altered(sequence: Int64)
        /// The entry does not point at the entry before it: one was deleted, inserted or reordered.
        case unlinked(sequence: Int64, expectedPrevious: String)
        /// A sequence number is missing or repeated.
        case gap(expected: Int64, found: Int64)

        public var sequence: Int64 {
            switch self {
            case .altered(let sequence), .unlinked(let sequence, _): sequence
            case .gap(_, let found): found
            }
        }

        public var description: String {
            switch self {
            case .altered(let sequence): "entry \(sequence) was altered: its content does not match its hash"
            case .unlinked(let sequence, _):
                "entry \(sequence) does not follow the entry before it (an entry was removed, inserted or reordered)"
            case .gap(let expected, let found): "expected entry \(expected) but found \(found) (entries missing or reordered)"
            }
        }
    }

    private var expectedSequence: Int64 = 1
    private var previousHash = AuditEntry.genesisHash
    public private(set) var checked = 0
    public private(set) var firstBreak: Break?
    /// The last entry checked: the chain's head when the whole chain was walked.
    public private(set) var head: (sequence: Int64, hash: String)?

    public init() {}

    /// Feeds the next entry; after the first break, later entries are not judged.
    public mutating func check(_ entry: AuditEntry) {
        guard firstBreak == nil else { return }
        checked += 1
        if entry.sequence != expectedSequence {
            firstBreak = .gap(expected: expectedSequence, found: entry.sequence)
        } else if entry.computedHash != entry.hash {
            firstBreak = .altered(sequence: entry.sequence)
        } else if entry.previousHash != previousHash {
            firstBreak = .unlinked(sequence: entry.sequence, expectedPrevious: previousHash)
        }
        expectedSequence = entry.sequence + 1
        previousHash = entry.hash
        head = (entry.sequence, entry.hash)
    }
}
