/// What a policy, limit or budget is attached to. Agents are named within their tenant, as keys
/// carry them; a key is named by its public id. A run (an agent's long-lived unit of work, named
/// by the client's `x-switchyard-run`) is named within its tenant too, so two tenants' runs with
/// the same id never meet; it is a kill switch's scope, not a policy's.
public enum GovernanceScope: Hashable, Sendable, Comparable, CustomStringConvertible {
    case tenant(String)
    case project(tenant: String, project: String)
    case agent(tenant: String, agent: String)
    case key(String)
    case run(tenant: String, run: String)

    /// Higher is more specific: run > key > agent > project > tenant.
    public var specificity: Int {
        switch self {
        case .tenant: 0
        case .project: 1
        case .agent: 2
        case .key: 3
        case .run: 4
        }
    }

    /// The tenant the scope belongs to, when the scope names it.
    public var tenant: String? {
        switch self {
        case .tenant(let tenant), .project(let tenant, _), .agent(let tenant, _), .run(let tenant, _): tenant
        case .key: nil
        }
    }

    /// `tenant:acme`, `project:acme/web`, `agent:acme/triage`, `key:abc123def456`, `run:acme/nightly-42`.
    public var description: String {
        switch self {
        case .tenant(let tenant): "tenant:\(tenant)"
        case .project(let tenant, let project): "project:\(tenant)/\(project)"
        case .agent(let tenant, let agent): "agent:\(tenant)/\(agent)"
        case .key(let id): "key:\(id)"
        case .run(let tenant, let run): "run:\(tenant)/\(run)"
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
        case "run":
            // A run id has no '/', a tenant's name may: the last one divides them.
            guard let slash = rest.lastIndex(of: "/") else { return nil }
            let tenant = String(rest[..<slash])
            let run = String(rest[rest.index(after: slash)...])
            guard !tenant.isEmpty, RunIdentity.isValid(run) else { return nil }
            self = .run(tenant: tenant, run: run)
        default: return nil
        }
    }

    public static func < (lhs: GovernanceScope, rhs: GovernanceScope) -> Bool {
        (lhs.specificity, lhs.description) < (rhs.specificity, rhs.description)
    }
}
