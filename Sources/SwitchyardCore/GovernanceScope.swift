/// What a policy, limit or budget is attached to. Agents are named within their tenant, as keys
/// carry them; a key is named by its public id.
public enum GovernanceScope: Hashable, Sendable, Comparable, CustomStringConvertible {
    case tenant(String)
    case project(tenant: String, project: String)
    case agent(tenant: String, agent: String)
    case key(String)

    /// Higher is more specific: key > agent > project > tenant.
    public var specificity: Int {
        switch self {
        case .tenant: 0
        case .project: 1
        case .agent: 2
        case .key: 3
        }
    }

    /// The tenant the scope belongs to, when the scope names it.
    public var tenant: String? {
        switch self {
        case .tenant(let tenant), .project(let tenant, _), .agent(let tenant, _): tenant
        case .key: nil
        }
    }

    /// `tenant:acme`, `project:acme/web`, `agent:acme/triage`, `key:abc123def456`.
    public var description: String {
        switch self {
        case .tenant(let tenant): "tenant:\(tenant)"
        case .project(let tenant, let project): "project:\(tenant)/\(project)"
        case .agent(let tenant, let agent): "agent:\(tenant)/\(agent)"
        case .key(let id): "key:\(id)"
        }
    }

    /// Parses `description`'s form back.
    public init?(_ text: String) {
        guard let colon = text.firstIndex(of: ":") else { return nil }
        let kind = text[..<colon]
        let rest = String(text[text.index(after: colon)...])
        func pair() -> (String, String)? {
            let parts = rest.split(separator: "/", maxSplits: 1).map(String.init)
            return parts.count == 2 && !parts[0].isEmpty && !parts[1].isEmpty ? (parts[0], parts[1]) : nil
        }
        switch kind {
        case "tenant" where !rest.isEmpty: self = .tenant(rest)
        case "project":
            guard let (tenant, project) = pair() else { return nil }; self = .project(tenant: tenant, project: project)
        case "agent": guard let (tenant, agent) = pair() else { return nil }; self = .agent(tenant: tenant, agent: agent)
        case "key" where !rest.isEmpty: self = .key(rest)
        default: return nil
        }
    }

    public static func < (lhs: GovernanceScope, rhs: GovernanceScope) -> Bool {
        (lhs.specificity, lhs.description) < (rhs.specificity, rhs.description)
    }
}
