/// An engaged kill switch: every request of the scope is refused and its streams in progress
/// are ended, until it is released.
public struct KillSwitch: Hashable, Sendable {
    public var scope: GovernanceScope
    public var engagedAt: UnixMicros
    public var reason: String
    /// Who engaged it: `admin`, `cli`, or `switchyard` for runaway protection.
    public var engagedBy: String

    public init(scope: GovernanceScope, engagedAt: UnixMicros = .now(), reason: String, engagedBy: String) {
        self.scope = scope
        self.engagedAt = engagedAt
        self.reason = reason
        self.engagedBy = engagedBy
    }

    public var auditValue: String {
        AuditValue.object([
            ("scope", scope.description), ("engaged_at", String(engagedAt.value)), ("reason", reason), ("engaged_by", engagedBy),
        ])
    }
}
