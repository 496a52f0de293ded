/// What an admin credential may do.
public enum AdminRole: String, Hashable, Sendable, CaseIterable {
    /// Everything, every tenant.
    case admin
    /// Read and change one tenant's keys, kill switches and data; nothing gateway-wide.
    case tenantAdmin = "tenant-admin"
    /// Read only: every tenant, or the one it is bound to.
    case viewer
}

/// A stored admin credential (not the secret, which only its holder has).
public struct AdminKeyRecord: Hashable, Sendable {
    public var id: String
    public var hash: String
    public var role: AdminRole
    /// The tenant a `tenant-admin` (always) or a `viewer` (optionally) is bound to.
    public var tenant: String?
    public var createdAt: UnixMicros
    public var revokedAt: UnixMicros?

    public init(id: String, hash: String, role: AdminRole, tenant: String?, createdAt: UnixMicros, revokedAt: UnixMicros?) {
        self.id = id
        self.hash = hash
        self.role = role
        self.tenant = tenant
        self.createdAt = createdAt
        self.revokedAt = revokedAt
    }
}

/// Admin keys look like `sya-<12-char id>_<40-char secret>`, apart from data-plane keys so one
/// can never be mistaken for the other.
public enum AdminKeyFormat {
    public static let prefix = "sya-"

    public static func issue(role: AdminRole, tenant: String?, now: UnixMicros = .now()) -> (
        secret: String, record: AdminKeyRecord
    ) {
        let id = RandomIdentifier.lowercase(count: 12)
        let secret = prefix + id + "_" + RandomIdentifier.base62(count: 40)
        return (
            secret,
            AdminKeyRecord(id: id, hash: APIKeyFormat.hash(secret), role: role, tenant: tenant, createdAt: now, revokedAt: nil)
        )
    }

    /// The id inside a presented admin key, or nil when it is not shaped like one.
    public static func keyID(of presented: String) -> String? {
        guard presented.hasPrefix(prefix) else { return nil }
        let rest = Array(presented.utf8.dropFirst(prefix.utf8.count))
        guard rest.count == 12 + 1 + 40, rest[12] == UInt8(ascii: "_") else { return nil }
        return String(decoding: rest[..<12], as: UTF8.self)
    }
}
