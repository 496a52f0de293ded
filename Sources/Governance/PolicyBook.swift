import SwitchyardCore

/// The policies in force, found by the scopes a principal acts in.
public struct PolicyBook: Sendable {
    private let byScope: [GovernanceScope: [Policy]]

    public init(_ policies: [Policy]) {
        byScope = Dictionary(grouping: policies, by: \.scope)
    }

    public var isEmpty: Bool { byScope.isEmpty }

    /// Every policy of the principal's scopes, combined.
    public func effective(for principal: Principal) -> EffectivePolicy {
        if byScope.isEmpty { return .unrestricted }
        let policies = principal.scopes.flatMap { byScope[$0] ?? [] }
        return policies.isEmpty ? .unrestricted : EffectivePolicy(combining: policies)
    }
}
