/// Kinds of sensitive content Switchyard looks for in prompts.
public enum ContentDetector: String, Hashable, Sendable, CaseIterable, Comparable {
    /// API keys of common providers and services, and PEM private keys.
    case secrets
    /// Card numbers: 13 to 19 digits (spaces or dashes allowed) that pass the Luhn check.
    case creditCards = "credit_cards"
    case emails

    public static func < (lhs: ContentDetector, rhs: ContentDetector) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// What to do with a request whose prompt holds what a detector found. Stricter wins when
/// several policies set the same detector.
public enum GuardrailAction: String, Hashable, Sendable, Comparable {
    /// Count and audit the hit, send the request unchanged.
    case allow
    /// Replace each hit by `[REDACTED:<detector>]` before the request leaves Switchyard.
    case redact
    /// Refuse the request (403).
    case block

    var strictness: Int {
        switch self {
        case .allow: 0
        case .redact: 1
        case .block: 2
        }
    }

    public static func < (lhs: GuardrailAction, rhs: GuardrailAction) -> Bool { lhs.strictness < rhs.strictness }
}
