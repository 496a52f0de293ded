/// One governance object as the store keeps it: a tenant, policy, limit or budget in its
/// canonical JSON declaration (the same fields as in `switchyard.yaml`).
public struct GovernanceRecord: Hashable, Sendable {
    public enum Kind: String, CaseIterable, Sendable, Comparable {
        // In dependency order: policies, limits and budgets name scopes of tenants.
        case tenant, policy, limit, budget

        /// The configuration file's section: `policies`.
        public var section: String { self == .policy ? "policies" : rawValue + "s" }

        public static func < (lhs: Kind, rhs: Kind) -> Bool {
            allCases.firstIndex(of: lhs)! < allCases.firstIndex(of: rhs)!
        }
    }

    public var kind: Kind
    /// A tenant's, policy's or budget's name; a limit's scope (`tenant:acme`).
    public var name: String
    public var declaration: String

    public init(kind: Kind, name: String, declaration: String) {
        self.kind = kind
        self.name = name
        self.declaration = declaration
    }

    /// How audit entries and plans name it: `policy:no-shell`.
    public var target: String { "\(kind.rawValue):\(name)" }
}

/// A change to live governance state: a record written (added or replaced) or removed.
public enum GovernanceWrite: Hashable, Sendable {
    case put(GovernanceRecord)
    case remove(kind: GovernanceRecord.Kind, name: String)
}

/// The live state moved on since it was read: another writer changed it first.
public struct GovernanceConflict: Error, Sendable, CustomStringConvertible {
    public var expected: Int64
    public var found: Int64

    public init(expected: Int64, found: Int64) {
        self.expected = expected
        self.found = found
    }

    public var description: String {
        "live governance state changed meanwhile (revision \(found), expected \(expected)); read it again and retry"
    }
}
