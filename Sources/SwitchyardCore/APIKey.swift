import Crypto
import Foundation

/// A stored API key: everything but the secret, which exists only in the caller's hands.
public struct APIKeyRecord: Hashable, Sendable, Codable {
    /// Public identifier, also embedded in the key string; used for lookup and revocation.
    public var id: String
    /// Hex SHA-256 of the whole key string.
    public var hash: String
    public var tenant: String
    public var project: String?
    public var agent: String?
    public var createdAt: UnixMicros
    public var expiresAt: UnixMicros?
    public var revokedAt: UnixMicros?

    public init(
        id: String, hash: String, tenant: String, project: String? = nil, agent: String?, createdAt: UnixMicros,
        expiresAt: UnixMicros?, revokedAt: UnixMicros?
    ) {
        self.id = id
        self.hash = hash
        self.tenant = tenant
        self.project = project
        self.agent = agent
        self.createdAt = createdAt
        self.expiresAt = expiresAt
        self.revokedAt = revokedAt
    }

    public func isUsable(at time: UnixMicros) -> Bool {
        if revokedAt != nil { return false }
        if let expiresAt, expiresAt <= time { return false }
        return true
    }

    public var principal: Principal { Principal(tenant: tenant, project: project, agent: agent, keyID: id) }
}

/// The format of Switchyard keys: `sk-sy-<12-char id>_<40-char secret>`.
public enum APIKeyFormat {
    public static let prefix = "sk-sy-"
    static let idLength = 12
    static let secretLength = 40

    /// A new key: the string to hand out once, and the record to store.
    public static func issue(
        tenant: String, project: String? = nil, agent: String?, expiresAt: UnixMicros?, now: UnixMicros = .now()
    ) -> (secret: String, record: APIKeyRecord) {
        let id = RandomIdentifier.lowercase(count: idLength)
        let secret = prefix + id + "_" + RandomIdentifier.base62(count: secretLength)
        let record = APIKeyRecord(
            id: id, hash: hash(secret), tenant: tenant, project: project, agent: agent, createdAt: now, expiresAt: expiresAt,
            revokedAt: nil)
        return (secret, record)
    }

    /// The id embedded in a presented key, or nil when it is not shaped like ours.
    public static func keyID(of presented: String) -> String? {
        guard presented.hasPrefix(prefix) else { return nil }
        let rest = presented.utf8.dropFirst(prefix.utf8.count)
        guard rest.count == idLength + 1 + secretLength,
            rest[rest.index(rest.startIndex, offsetBy: idLength)] == UInt8(ascii: "_")
        else { return nil }
        return String(decoding: rest.prefix(idLength), as: UTF8.self)
    }

    public static func hash(_ key: String) -> String {
        let digest =
            key.utf8.withContiguousStorageIfAvailable { SHA256.hash(data: UnsafeRawBufferPointer($0)) }
            ?? SHA256.hash(data: Array(key.utf8))
        return Hex.string(digest, count: SHA256.byteCount)
    }

    /// Whether `presented` is the key behind `record`, comparing hashes in constant time.
    public static func matches(_ presented: String, _ record: APIKeyRecord) -> Bool {
        constantTimeEquals(hash(presented), record.hash)
    }

    static func constantTimeEquals(_ lhs: String, _ rhs: String) -> Bool {
        // Through the strings' contiguous UTF-8: zipping two UTF8Views stepped an index per byte.
        var (lhs, rhs) = (lhs, rhs)
        return lhs.withUTF8 { left in
            rhs.withUTF8 { right in
                guard left.count == right.count else { return false }
                var difference: UInt8 = 0
                for index in 0..<left.count { difference |= left[index] ^ right[index] }
                return difference == 0
            }
        }
    }
}
