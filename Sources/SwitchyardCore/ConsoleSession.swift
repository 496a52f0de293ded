/// A signed-in console session: the admin credential it was opened with (its role and tenant)
/// and the token every form that changes something must carry back.
public struct ConsoleSession: Hashable, Sendable {
    /// The stored admin key it was opened with; nil for the bootstrap key.
    public var keyID: String?
    public var role: AdminRole
    public var tenant: String?
    public var csrf: String
    public var createdAt: UnixMicros
    public var expiresAt: UnixMicros

    public init(
        keyID: String?, role: AdminRole, tenant: String?, csrf: String, createdAt: UnixMicros, expiresAt: UnixMicros
    ) {
        self.keyID = keyID
        self.role = role
        self.tenant = tenant
        self.csrf = csrf
        self.createdAt = createdAt
        self.expiresAt = expiresAt
    }
}
