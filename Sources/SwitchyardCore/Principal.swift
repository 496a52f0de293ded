/// Who a request acts for, resolved from its API key.
public struct Principal: Hashable, Sendable {
    public var tenant: String
    public var agent: String?
    public var keyID: String

    public init(tenant: String, agent: String?, keyID: String) {
        self.tenant = tenant
        self.agent = agent
        self.keyID = keyID
    }
}
