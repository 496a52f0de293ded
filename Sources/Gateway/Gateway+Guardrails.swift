import Governance
import Hummingbird
import SwitchyardCore
import WireFormats

extension Gateway {
    /// Content guardrails on the request body, before anything reads it: per detector the
    /// strictest action of the principal's policies. Blocked requests are refused (403); redacted
    /// ones continue with each hit replaced; every hit is counted and audited, never stored.
    func applyGuardrails(_ body: [UInt8], principal: Principal, meter: inout RequestMeter) -> Result<[UInt8], OpenAIError> {
        let policies = governor.policies
        guard !policies.isEmpty else { return .success(body) }
        let policy = policies.effective(for: principal)
        meter.policy = policy
        let rules = policy.guardrails
        guard !rules.isEmpty else { return .success(body) }
        let matches = ContentScanner.scan(body, for: Set(rules.keys))
        guard !matches.isEmpty else { return .success(body) }

        var counts: [ContentDetector: Int] = [:]
        for match in matches { counts[match.detector, default: 0] += 1 }
        for (detector, count) in counts {
            metrics.increment(
                "switchyard_guardrail_hits_total", help: "Sensitive content found in prompts, by detector and action.",
                labels: [("detector", detector.rawValue), ("action", rules[detector]!.value.rawValue)], by: Int64(count))
        }
        func summary(_ action: GuardrailAction) -> String {
            counts.keys.sorted().filter { rules[$0]!.value == action }.map { "\($0.rawValue): \(counts[$0]!)" }
                .joined(separator: ", ")
        }
        // One audit entry per action taken, naming the policy of its first detector.
        for action in [GuardrailAction.block, .redact, .allow] {
            guard let detector = counts.keys.sorted().first(where: { rules[$0]!.value == action }) else { continue }
            governor.recordGuardrailHits(
                summary(action), action: action, policy: rules[detector]!.policy, principal: principal)
        }
        if let blocked = counts.keys.sorted().first(where: { rules[$0]!.value == .block }) {
            return .failure(
                OpenAIError(
                    status: 403,
                    message:
                        "Refused by policy '\(rules[blocked]!.policy)' (rule guardrails.\(blocked.rawValue)): the request contains \(Self.describe(blocked, count: counts[blocked]!)); remove it and retry.",
                    type: "permission_error", code: "content_blocked", errorClass: .policyDenied))
        }
        let redacted = matches.filter { rules[$0.detector]!.value == .redact }
        meter.redactions = redacted.count
        return .success(redacted.isEmpty ? body : ContentScanner.redact(body, redacted))
    }

    static func describe(_ detector: ContentDetector, count: Int) -> String {
        switch detector {
        case .secrets: count == 1 ? "a secret (API key or private key)" : "\(count) secrets (API keys or private keys)"
        case .creditCards: count == 1 ? "a card number" : "\(count) card numbers"
        case .emails: count == 1 ? "an e-mail address" : "\(count) e-mail addresses"
        }
    }
}
