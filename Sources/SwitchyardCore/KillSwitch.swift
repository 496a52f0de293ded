/// An engaged kill switch: every request of the scope is refused and its streams in progress
/// are ended, until it is released.
public struct KillSwitch: Hashable, Sendable {
    public var scope: GovernanceScope
    public var engagedAt: UnixMicros
    public var reason: String
    /// Who engaged it: `admin`, `admin-key:<id>`, `cli`, or `switchyard` for runaway protection.
    public var engagedBy: String
    /// The role it was engaged with; releasing it takes at least as much.
    public var authority: Authority

    /// `authority` defaults to `admin`, the reading that lets the fewest principals release it.
    public init(
        scope: GovernanceScope, engagedAt: UnixMicros = .now(), reason: String, engagedBy: String, authority: Authority = .admin
    ) {
        self.scope = scope
        self.engagedAt = engagedAt
        self.reason = reason
        self.engagedBy = engagedBy
        self.authority = authority
    }

    public var auditValue: String {
        AuditValue.object([
            ("scope", scope.description), ("engaged_at", String(engagedAt.value)), ("reason", reason), ("engaged_by", engagedBy),
            ("authority", authority.rawValue),
        ])
    }

    /// Who may engage and release switches, in increasing order. The CLI (which reaches the store
    /// directly) and runaway protection act as `admin`, so a tenant-admin cannot lift what they engaged.
    public enum Authority: String, Comparable, Sendable {
        case tenantAdmin = "tenant-admin"
        case admin

        private var rank: Int {
            switch self {
            case .tenantAdmin: 0
            case .admin: 1
            }
        }

        public static func < (lhs: Authority, rhs: Authority) -> Bool { lhs.rank < rhs.rank }
    }

    /// A release refused because the principal has less authority than the switch's engager.
    public struct ReleaseRefused: Error, Sendable {
        public var kill: KillSwitch
        public var authority: Authority

        public init(kill: KillSwitch, authority: Authority) {
            self.kill = kill
            self.authority = authority
        }

        public var message: String {
            "The kill switch on \(kill.scope) was engaged by \(kill.engagedBy) with \(kill.authority.rawValue) authority; "
                + "releasing it needs the \(kill.authority.rawValue) role (this credential has \(authority.rawValue))."
        }
    }
}
