import Foundation

/// Rules attached to a tenant, project, agent or key.
///
/// Several policies apply to one request (one per scope the key acts in). How they combine is
/// `EffectivePolicy`'s job: numeric maxima from the most specific scope that sets them, allow-lists
/// narrowed by every scope that sets one, deny-lists and required tags collected from all.
public struct Policy: Hashable, Sendable {
    public var name: String
    public var scope: GovernanceScope
    /// Routes (the `model` clients ask for) this scope may use; nil allows all.
    public var allowedRoutes: Set<String>?
    public var deniedRoutes: Set<String> = []
    /// Tool (function) names requests may declare; nil allows all.
    public var allowedTools: Set<String>?
    public var deniedTools: Set<String> = []
    public var maxInputTokens: Int?
    public var maxOutputTokens: Int?
    /// The most one request may cost, priced at its maximum (estimated input + max output tokens).
    public var maxCostPerRequest: Money?
    public var allowedRegions: Set<String>?
    public var allowedProviders: Set<String>?
    public var deniedProviders: Set<String> = []
    /// Tag keys every request must carry (e.g. `customer`), so its cost can be attributed.
    public var requiredTags: Set<String> = []
    /// What to do when a prompt holds secrets, card numbers or e-mail addresses.
    public var guardrails: [ContentDetector: GuardrailAction] = [:]
    /// Whether a traced request's prompt and answer go into its span (`gen_ai.input.messages`,
    /// `gen_ai.output.messages`); nil leaves it to a broader scope, and no scope means no.
    public var traceContent: Bool?
    /// What one agent run of the scope may do (`max_run_*`); stopping a run engages the kill
    /// switch on its `run:` scope.
    public var maxRunCost: Money?
    public var maxRunRequests: Int?
    public var maxRunDuration: Duration?
    /// What a run that loops meets: the same prompt `loopRepeats` times within `loopWindow`.
    public var onLoop: LoopAction?
    public var loopRepeats: Int?
    public var loopWindow: Duration?

    public init(name: String, scope: GovernanceScope) {
        self.name = name
        self.scope = scope
    }
}

/// What a request may do after combining every policy of its scopes.
public struct EffectivePolicy: Hashable, Sendable {
    /// A rule that names its policy, so a refusal can say which one refused.
    public struct Sourced<Value: Hashable & Sendable>: Hashable, Sendable {
        public var value: Value
        public var policy: String
    }

    public var allowedRoutes: Sourced<Set<String>>?
    public var deniedRoutes: [String: String] = [:]
    /// Tool names folded to lower case: a provider may match names case-insensitively, so a
    /// denial of `shell` must also catch `Shell`.
    public var allowedTools: Sourced<Set<String>>?
    public var deniedTools: [String: String] = [:]
    public var maxInputTokens: Sourced<Int>?
    public var maxOutputTokens: Sourced<Int>?
    public var maxCostPerRequest: Sourced<Money>?
    public var allowedRegions: Sourced<Set<String>>?
    public var allowedProviders: Sourced<Set<String>>?
    public var deniedProviders: [String: String] = [:]
    public var requiredTags: [String: String] = [:]
    /// Per detector, the strictest action any scope sets.
    public var guardrails: [ContentDetector: Sourced<GuardrailAction>] = [:]
    /// Content in traces: the most specific scope that says decides; none says: no.
    public var traceContent: Sourced<Bool>?
    public var maxRunCost: Sourced<Money>?
    public var maxRunRequests: Sourced<Int>?
    public var maxRunDuration: Sourced<Duration>?
    public var onLoop: Sourced<LoopAction>?
    public var loopRepeats: Sourced<Int>?
    public var loopWindow: Sourced<Duration>?

    public static let unrestricted = EffectivePolicy()

    /// Combines `policies` (any order). Denials win over allowances at every level.
    public init(combining policies: [Policy] = []) {
        // Least specific first, so a more specific maximum overwrites a broader one.
        for policy in policies.sorted(by: { $0.scope.specificity < $1.scope.specificity }) {
            func narrow(_ current: Sourced<Set<String>>?, _ next: Set<String>?) -> Sourced<Set<String>>? {
                guard let next else { return current }
                guard let current else { return Sourced(value: next, policy: policy.name) }
                return Sourced(value: current.value.intersection(next), policy: policy.name)
            }
            allowedRoutes = narrow(allowedRoutes, policy.allowedRoutes)
            allowedTools = narrow(allowedTools, policy.allowedTools.map { Set($0.map(Self.toolKey)) })
            allowedRegions = narrow(allowedRegions, policy.allowedRegions)
            allowedProviders = narrow(allowedProviders, policy.allowedProviders)
            for route in policy.deniedRoutes { deniedRoutes[route] = policy.name }
            for tool in policy.deniedTools { deniedTools[Self.toolKey(tool)] = policy.name }
            for provider in policy.deniedProviders { deniedProviders[provider] = policy.name }
            for tag in policy.requiredTags { requiredTags[tag] = policy.name }
            for (detector, action) in policy.guardrails where action >= (guardrails[detector]?.value ?? .allow) {
                if guardrails[detector] == nil || action > guardrails[detector]!.value {
                    guardrails[detector] = Sourced(value: action, policy: policy.name)
                }
            }
            if let value = policy.maxInputTokens { maxInputTokens = Sourced(value: value, policy: policy.name) }
            if let value = policy.maxOutputTokens { maxOutputTokens = Sourced(value: value, policy: policy.name) }
            if let value = policy.maxCostPerRequest { maxCostPerRequest = Sourced(value: value, policy: policy.name) }
            if let value = policy.traceContent { traceContent = Sourced(value: value, policy: policy.name) }
            if let value = policy.maxRunCost { maxRunCost = Sourced(value: value, policy: policy.name) }
            if let value = policy.maxRunRequests { maxRunRequests = Sourced(value: value, policy: policy.name) }
            if let value = policy.maxRunDuration { maxRunDuration = Sourced(value: value, policy: policy.name) }
            if let value = policy.onLoop { onLoop = Sourced(value: value, policy: policy.name) }
            if let value = policy.loopRepeats { loopRepeats = Sourced(value: value, policy: policy.name) }
            if let value = policy.loopWindow { loopWindow = Sourced(value: value, policy: policy.name) }
        }
    }

    /// How tool names are compared: names a model or a tool dispatcher could read as one tool
    /// meet. Compatibility forms are unified (fullwidth `ｓｈｅｌｌ` is `shell`), invisible format
    /// and control characters dropped (`sh\u{200B}ell`), surrounding white space trimmed, and case
    /// folded (upper then lower, so `ſ` meets `s`).
    public static func toolKey(_ name: String) -> String {
        if name.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) { return name.lowercased() }
        let visible = name.precomposedStringWithCompatibilityMapping.unicodeScalars.filter { scalar in
            let category = scalar.properties.generalCategory
            return category != .format && category != .control
        }
        return String(String.UnicodeScalarView(visible)).trimmingCharacters(in: .whitespacesAndNewlines).uppercased()
            .lowercased()
    }

    /// The residency the policies impose on deployments, and the policy to name when it refuses.
    public var residency: (residency: Residency, policy: String)? {
        guard allowedRegions != nil || allowedProviders != nil || !deniedProviders.isEmpty else { return nil }
        let names = [allowedRegions?.policy, allowedProviders?.policy].compactMap { $0 } + deniedProviders.values.sorted()
        return (
            Residency(
                regions: allowedRegions?.value, providers: allowedProviders?.value,
                excludeProviders: Set(deniedProviders.keys)),
            names.first ?? ""
        )
    }
}

/// What happens when a run loops: it is flagged on the run (and in its requests' records), or
/// also stopped by the kill switch on its `run:` scope.
public enum LoopAction: String, Hashable, Sendable, Comparable, CaseIterable {
    case flag, stop

    public static func < (lhs: LoopAction, rhs: LoopAction) -> Bool { lhs == .flag && rhs == .stop }
}
