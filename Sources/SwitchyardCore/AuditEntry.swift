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
    /// HMAC-SHA-256 over `canonicalBytes` with an audit key kept outside the database, and that
    /// key's id; both nil when no key was configured where the entry was appended.
    public var keyID: String?
    public var mac: String?
    /// Position among the entries of `tenant` alone, from 1, without gaps: tenants page their audit
    /// view by it, so gaps in `sequence` do not show them other tenants' activity. Not covered by
    /// the hash or MAC: it is fully determined by the order and tenants they cover, and checked so.
    public var tenantSequence: Int64?

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
        self.keyID = nil
        self.mac = nil
        self.tenantSequence = nil
    }

    /// Every field but `hash`, each as its length and bytes, so no two different entries (not even
    /// ones that move a character from one field to the next) share a canonical form.
    public var canonicalBytes: [UInt8] {
        Self.canonicalForm([
            "switchyard-audit-v1", String(sequence), String(time.value), principal, action, target, tenant, before, after,
            detail, previousHash,
        ])
    }

    /// Each value as `<byte count>:<bytes>;`, an absent one as `-;`: what entries and checkpoints
    /// hash and MAC.
    static func canonicalForm(_ values: [String?]) -> [UInt8] {
        var bytes: [UInt8] = []
        for value in values {
            guard let value else {
                bytes.append(contentsOf: "-;".utf8)
                continue
            }
            bytes.append(contentsOf: "\(value.utf8.count):".utf8)
            bytes.append(contentsOf: value.utf8)
            bytes.append(UInt8(ascii: ";"))
        }
        return bytes
    }

    public var computedHash: String { Hex.string(SHA256.hash(data: canonicalBytes), count: SHA256.byteCount) }

    /// This entry placed after `previous` (nil: first), with its hash computed.
    public func chained(after previous: (sequence: Int64, hash: String)?) -> AuditEntry {
        var entry = self
        entry.sequence = (previous?.sequence ?? 0) + 1
        entry.previousHash = previous?.hash ?? Self.genesisHash
        entry.hash = entry.computedHash
        return entry
    }

    /// This entry with its MAC by the keyring's signing key.
    public func signed(with keyring: AuditKeyring) -> AuditEntry {
        var entry = self
        (entry.keyID, entry.mac) = keyring.sign(canonicalBytes)
        return entry
    }
}
