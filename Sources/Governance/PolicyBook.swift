import SwitchyardCore
import Synchronization

/// The policies in force, found by the scopes a principal acts in.
public struct PolicyBook: Sendable {
    private let byScope: [GovernanceScope: [Policy]]
    /// Combined policies per principal, computed on first use. A book never changes (a new
    /// revision is a new book), so nothing in here goes stale.
    private let combined = Combined()

    public init(_ policies: [Policy]) {
        byScope = Dictionary(grouping: policies, by: \.scope)
    }

    public var isEmpty: Bool { byScope.isEmpty }

    /// Every policy of the principal's scopes, combined.
    public func effective(for principal: Principal) -> EffectivePolicy {
        if byScope.isEmpty { return .unrestricted }
        if let known = combined.policies.withLock({ $0[principal] }) { return known }
        let policies = principal.scopes.flatMap { byScope[$0] ?? [] }
        let effective = policies.isEmpty ? EffectivePolicy.unrestricted : EffectivePolicy(combining: policies)
        combined.policies.withLock { known in
            // Bounded: principals are keys, and a gateway with more live keys than this just combines again.
            if known.count >= Combined.limit { known.removeAll(keepingCapacity: true) }
            known[principal] = effective
        }
        return effective
    }

    private final class Combined: Sendable {
        static let limit = 10_000
        let policies = Mutex<[Principal: EffectivePolicy]>([:])
    }
}
