/// Who a request acts for, resolved from its API key.
public struct Principal: Hashable, Sendable {
    public var tenant: String
    /// The project within the tenant the key is bound to, if any.
    public var project: String?
    public var agent: String?
    public var keyID: String

    public init(tenant: String, project: String? = nil, agent: String?, keyID: String) {
        self.tenant = tenant
        self.project = project
        self.agent = agent
        self.keyID = keyID
    }

    /// Every scope this principal acts in, most specific first: key, agent, project, tenant.
    public var scopes: [GovernanceScope] {
        var scopes: [GovernanceScope] = []
        scopes.reserveCapacity(4)  // one allocation, not one per append
        scopes.append(.key(keyID))
        if let agent { scopes.append(.agent(tenant: tenant, agent: agent)) }
        if let project { scopes.append(.project(tenant: tenant, project: project)) }
        scopes.append(.tenant(tenant))
        return scopes
    }
}
