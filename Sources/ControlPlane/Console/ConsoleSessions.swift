import Foundation
import Storage
import SwitchyardCore

/// Console sign-in: an admin key is exchanged for a session whose random token travels in an
/// HttpOnly, SameSite=Strict cookie. The store keeps only the token's SHA-256, so any replica
/// resolves the session and a copy of the table opens none.
struct ConsoleSessions: Sendable {
    static let cookieName = "switchyard_console"
    /// How long a session lasts from sign-in (README, Console).
    static let lifetimeMicros: Int64 = 8 * 3_600 * 1_000_000

    let store: SQLStore

    /// What a session opened with the bootstrap key (`admin.key_env`) records in place of a key
    /// id: a digest of that secret, so a session outlives no rotation of it.
    static func bootstrapMarker(_ environment: [String: String], variable: String?) -> String? {
        guard let variable, let secret = environment[variable], !secret.isEmpty else { return nil }
        return "bootstrap:" + APIKeyFormat.hash("console-session:" + secret).prefix(24)
    }

    /// Opens a session for `principal`; the token to set as the cookie, and the session. A
    /// bootstrap-key principal's session carries `bootstrap` (see `bootstrapMarker`).
    func open(for principal: AdminPrincipal, bootstrap: String?, at now: UnixMicros = .now()) async throws
        -> (token: String, ConsoleSession)
    {
        let token = Self.randomToken()
        let session = ConsoleSession(
            keyID: principal.keyID ?? bootstrap, role: principal.role, tenant: principal.tenant, csrf: Self.randomToken(),
            createdAt: now, expiresAt: UnixMicros(now.value + Self.lifetimeMicros))
        try await store.insertConsoleSession(session, tokenHash: APIKeyFormat.hash(token))
        return (token, session)
    }

    /// The live session the request's cookie names, if any; throws when the store cannot answer.
    func session(cookieHeader: String?, at now: UnixMicros = .now()) async throws -> (token: String, ConsoleSession)? {
        guard let token = Self.token(in: cookieHeader),
            let session = try await store.consoleSession(tokenHash: APIKeyFormat.hash(token), at: now)
        else { return nil }
        return (token, session)
    }

    func close(token: String) async {
        try? await store.deleteConsoleSession(tokenHash: APIKeyFormat.hash(token))
    }

    /// A 64-hex cookie's value (the session's by default) in a `Cookie` header. Two of them (one planted by a sibling
    /// site for a narrower path, say) is none: which one the browser meant cannot be told.
    static func token(in header: String?, named name: String = cookieName) -> String? {
        guard let header else { return nil }
        let values = header.split(separator: ";").compactMap { pair -> Substring? in
            let parts = pair.split(separator: "=", maxSplits: 1)
            guard parts.count == 2, parts[0].trimmingCharacters(in: .whitespaces) == name else { return nil }
            return parts[1]
        }
        guard values.count == 1 else { return nil }
        let value = values[0].trimmingCharacters(in: .whitespaces)
        return value.count == 64 && value.allSatisfy(\.isHexDigit) ? value : nil
    }

    /// `Set-Cookie` for a session token (nil: the clearing one). `Secure` when the request came
    /// over TLS, which a proxy in front of the gateway terminates.
    static func cookie(_ token: String?, secure: Bool) -> String {
        let lifetime = token == nil ? 0 : lifetimeMicros / 1_000_000
        return "\(cookieName)=\(token ?? ""); Path=/console; Max-Age=\(lifetime); HttpOnly; SameSite=Strict"
            + (secure ? "; Secure" : "")
    }

    /// 32 random bytes, hex.
    static func randomToken() -> String {
        var generator = SystemRandomNumberGenerator()
        return (0..<32).map { _ in
            let byte = UInt8.random(in: 0...255, using: &generator)
            return (byte < 16 ? "0" : "") + String(byte, radix: 16)
        }.joined()
    }

    /// Compares two tokens in time that does not depend on where they differ.
    static func same(_ presented: String, _ expected: String) -> Bool {
        let a = Array(presented.utf8)
        let b = Array(expected.utf8)
        guard a.count == b.count, !a.isEmpty else { return false }
        return zip(a, b).reduce(UInt8(0)) { $0 | ($1.0 ^ $1.1) } == 0
    }
}
