import Crypto

/// The keys that MAC (HMAC-SHA-256) audit entries and checkpoints. They come from the
/// environment variable `audit.key_env` names, never from the database, so write access to the
/// store is not enough to rewrite the trail. The variable holds one or more keys separated by
/// commas: the first signs, the others still verify, so a key is rotated by putting a new one
/// first and dropping the old one once its entries need no checking.
public struct AuditKeyring: Sendable, CustomStringConvertible {
    /// Describes itself by id only, so no log or error message can show a key.
    public struct Key: Sendable, CustomStringConvertible {
        /// Derived from the key, so entries name the key that signed them without any bookkeeping.
        public let id: String
        // Bytes, not a SymmetricKey, which is not Sendable.
        fileprivate let secret: [UInt8]
        fileprivate var symmetricKey: SymmetricKey { SymmetricKey(data: secret) }
        public var description: String { "audit key \(id)" }
    }

    public var description: String { "audit keys " + keys.map(\.id).joined(separator: ",") }

    /// Signing key first.
    public let keys: [Key]

    /// Shorter keys are refused: a MAC is only as strong as its key.
    public static let minimumKeyLength = 32

    /// `text` as the variable holds it: keys separated by commas, whitespace around them ignored.
    public init(_ text: String) throws(Problem) {
        let secrets = text.split(separator: ",", omittingEmptySubsequences: false).map {
            $0.trimmingWhitespace()
        }
        guard !secrets.isEmpty, !secrets.allSatisfy(\.isEmpty) else { throw Problem("holds no key") }
        var keys: [Key] = []
        for (index, secret) in secrets.enumerated() {
            guard secret.utf8.count >= Self.minimumKeyLength else {
                throw Problem(
                    "key \(index + 1) is \(secret.isEmpty ? "empty" : "too short"): each key must be at least \(Self.minimumKeyLength) characters (e.g. openssl rand -hex 32)"
                )
            }
            let id = Self.keyID(of: secret)
            guard !keys.contains(where: { $0.id == id }) else { throw Problem("key \(index + 1) is listed twice") }
            keys.append(Key(id: id, secret: Array(secret.utf8)))
        }
        self.keys = keys
    }

    public var signingKeyID: String { keys[0].id }

    /// The first 16 hex digits of SHA-256 over a fixed label and the key.
    public static func keyID(of secret: String) -> String {
        let digest = SHA256.hash(data: Array("switchyard-audit-key-id-v1;".utf8) + Array(secret.utf8))
        return String(Hex.string(digest, count: SHA256.byteCount).prefix(16))
    }

    /// MACs `bytes` with the signing key.
    public func sign(_ bytes: [UInt8]) -> (keyID: String, mac: String) {
        let code = HMAC<SHA256>.authenticationCode(for: bytes, using: keys[0].symmetricKey)
        return (keys[0].id, Hex.string(Array(code)))
    }

    public enum Verdict: Sendable, Equatable {
        case valid
        case invalid
        /// No key with this id is listed: it was removed, or the id was made up.
        case unknownKey
    }

    /// Checks `mac` over `bytes` with the key `keyID` names, in constant time.
    public func verify(mac: String, keyID: String, over bytes: [UInt8]) -> Verdict {
        guard let key = keys.first(where: { $0.id == keyID }) else { return .unknownKey }
        guard let code = Hex.bytes(mac), code.count == SHA256.byteCount else { return .invalid }
        return HMAC<SHA256>.isValidAuthenticationCode(code, authenticating: bytes, using: key.symmetricKey) ? .valid : .invalid
    }

    /// Why the variable's value cannot be used; never contains a key.
    public struct Problem: Error, Sendable, CustomStringConvertible {
        public var description: String
        public init(_ description: String) { self.description = description }
    }
}

extension Substring {
    fileprivate func trimmingWhitespace() -> String {
        String(drop(while: \.isWhitespace).reversed().drop(while: \.isWhitespace).reversed())
    }
}
