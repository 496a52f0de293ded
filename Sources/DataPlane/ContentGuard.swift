import CoreMetrics
import Foundation
import Governance
import Observability
import SwitchyardCore
import Tracing
import WireFormats

/// The guard stage: content guardrails on the request body, before anything reads it. Per
/// detector the strictest action of the principal's policies applies. Blocked requests are refused
/// (403); redacted ones continue with each hit replaced; every hit is counted and audited, never
/// stored.
struct ContentGuard: Sendable {
    let governor: Governor
    /// Concrete, as in `RequestObserver`: an existential field would make each copy of the stage a slow one.
    let metrics: RegistryMetricsFactory

    /// The body to go on with (redacted where a rule says so), and the combined policy noted in
    /// `context` for the authorize stage.
    func apply(_ body: [UInt8], principal: Principal, context: inout RequestContext) throws(OpenAIError) -> [UInt8] {
        let policies = governor.policies
        guard !policies.isEmpty else { return body }
        let policy = policies.effective(for: principal)
        context.policy = policy
        let rules = policy.guardrails
        guard !rules.isEmpty else { return body }
        // Made once: building the set was a measurable share of a request's guard stage.
        let detectors = Set(rules.keys)
        let matches = ContentScanner.scan(body, for: detectors)
        var counts: [ContentDetector: Int] = [:]
        for match in matches { counts[match.detector, default: 0] += 1 }
        // What the raw bytes hide: text behind `\u` escapes, or split over a message's parts. Such a
        // hit has no byte range to redact, so `redact` refuses it like `block`.
        let hidden = Self.hiddenHits(in: body, for: detectors, visible: counts)
        guard !matches.isEmpty || !hidden.isEmpty else { return body }
        for (detector, count) in hidden { counts[detector, default: 0] += count }
        for (detector, count) in counts {
            context.trace?.record(
                "switchyard.guardrail",
                [
                    GenAIAttributes.guardrailDetector: .string(detector.rawValue),
                    GenAIAttributes.guardrailAction: .string(rules[detector]!.value.rawValue),
                    GenAIAttributes.guardrailHits: .int64(Int64(count)),
                ])
            Counter(
                label: MetricFamilies.guardrailHits,
                dimensions: [("detector", detector.rawValue), ("action", rules[detector]!.value.rawValue)], factory: metrics
            ).increment(by: count)
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
        func refusal(_ detector: ContentDetector, _ what: String) -> OpenAIError {
            OpenAIError(
                status: 403,
                message:
                    "Refused by policy '\(rules[detector]!.policy)' (rule guardrails.\(detector.rawValue)): the request contains \(what); remove it and retry.",
                type: "permission_error", code: "content_blocked", errorClass: .policyDenied)
        }
        if let concealed = hidden.keys.sorted().first(where: { rules[$0]!.value != .allow }) {
            let what = Self.describe(concealed, count: hidden[concealed]!)
            throw refusal(concealed, what + " written with escapes or split across parts, which cannot be redacted")
        }
        if let blocked = counts.keys.sorted().first(where: { rules[$0]!.value == .block }) {
            throw refusal(blocked, Self.describe(blocked, count: counts[blocked]!))
        }
        let redacted = matches.filter { rules[$0.detector]!.value == .redact }
        context.redactions = redacted.count
        return redacted.isEmpty ? body : ContentScanner.redact(body, redacted)
    }

    /// Hits in the body's decoded text beyond the `visible` ones the raw scan found, per detector.
    /// The decoded text is every string with its escapes decoded, and, where an array holds parts
    /// with `text` (a message's content), those texts read as one: joined by a space for card
    /// numbers and e-mail addresses (a split group still reads as one number, two words do not
    /// fuse into one), and by nothing for secrets (a key cut in two is still the key).
    static func hiddenHits(
        in body: [UInt8], for detectors: Set<ContentDetector>, visible: [ContentDetector: Int]
    ) -> [ContentDetector: Int] {
        // Only a `\u` escape decodes to a character a detector looks for, and only parts can be
        // joined: without either, the decoded text holds nothing the raw scan did not see.
        guard Self.mayHide(body) else { return [:] }
        // A body that is not JSON is refused later; nothing is hidden in it.
        guard let json = try? JSONValue.parse(body) else { return [:] }
        var texts: [[UInt8]] = []
        // Each message's parts joined by nothing, with the same parts joined by a space.
        var partJoins: [(joined: [UInt8], spaced: [UInt8])] = []
        func collect(_ value: JSONValue, skippingText: Bool = false) {
            switch value {
            case .string(let text): texts.append(Array(Self.readable(text).utf8))
            // Numbers and member names too: the raw scan sees them, so a hit there must count on
            // both sides, or it would offset a hidden hit elsewhere.
            case .number(let text): texts.append(Array(text.utf8))
            case .object(let object):
                for member in object {
                    texts.append(Array(Self.readable(member.key).utf8))
                    if !(skippingText && member.key == "text") { collect(member.value) }
                }
            case .array(let values):
                let parts = values.compactMap { $0["text"]?.stringValue.map(Self.readable) }
                guard parts.count > 1 else { return values.forEach { collect($0) } }
                let spaced = Array(parts.joined(separator: " ").utf8)
                texts.append(spaced)
                partJoins.append((Array(parts.joined().utf8), spaced))
                for element in values { collect(element, skippingText: true) }
            default: break
            }
        }
        collect(json)
        var found: [ContentDetector: Int] = [:]
        for text in texts {
            for match in ContentScanner.scan(text, for: detectors) { found[match.detector, default: 0] += 1 }
        }
        if detectors.contains(.secrets) {
            for (joined, spaced) in partJoins {
                let extra =
                    ContentScanner.scan(joined, for: [.secrets]).count - ContentScanner.scan(spaced, for: [.secrets]).count
                found[.secrets, default: 0] += max(0, extra)
            }
        }
        var hidden: [ContentDetector: Int] = [:]
        for (detector, count) in found where count > visible[detector, default: 0] {
            hidden[detector] = count - visible[detector, default: 0]
        }
        return hidden
    }

    /// Text as a reader sees it: compatibility forms unified (fullwidth `４` is `4`), digits of
    /// every script as ASCII digits, and characters that render as nothing (zero-width space,
    /// soft hyphen, bidi marks, variation selectors, fillers) dropped, so they cannot break up a
    /// number or a key.
    static func readable(_ text: String) -> String {
        guard text.utf8.contains(where: { $0 >= 0x80 }) else { return text }
        var scalars = String.UnicodeScalarView()
        for scalar in text.precomposedStringWithCompatibilityMapping.unicodeScalars {
            let properties = scalar.properties
            // Format characters and every other default-ignorable one (variation selectors, the
            // combining grapheme joiner, Hangul fillers): all render as nothing.
            if properties.generalCategory == .format || properties.isDefaultIgnorableCodePoint { continue }
            if properties.numericType == .decimal, let value = properties.numericValue, scalar.value >= 0x80 {
                scalars.append(Unicode.Scalar(UInt8(ascii: "0") + UInt8(value)))
            } else {
                scalars.append(scalar)
            }
        }
        return String(scalars)
    }

    /// Whether the body has a `\u` escape, more than one `"text"` member, or any non-ASCII byte
    /// (an invisible character or a digit of another script can hide a hit from the raw scan).
    /// Word-wide and `memchr` scans: every guarded request pays this.
    static func mayHide(_ body: [UInt8]) -> Bool {
        body.withUnsafeBufferPointer { bytes in
            guard let base = bytes.baseAddress else { return false }
            let count = bytes.count
            var highBits: UInt64 = 0
            var index = 0
            while index + 8 <= count {
                highBits |= UnsafeRawPointer(base + index).loadUnaligned(as: UInt64.self)
                index += 8
            }
            while index < count {
                highBits |= UInt64(base[index])
                index += 1
            }
            if highBits & 0x8080_8080_8080_8080 != 0 { return true }
            // A backslash before `u` (also the `u` after an escaped backslash: it only costs a parse).
            if occurrences(of: UInt8(ascii: "\\"), in: bytes, where: { $0 + 1 < count && base[$0 + 1] == UInt8(ascii: "u") }) > 0
            {
                return true
            }
            // `"text"`, found from its `x`, a rare letter.
            let texts = occurrences(of: UInt8(ascii: "x"), in: bytes, stoppingAt: 2) { at in
                at >= 3 && at + 2 < count && base[at - 3] == UInt8(ascii: "\"") && base[at - 2] == UInt8(ascii: "t")
                    && base[at - 1] == UInt8(ascii: "e") && base[at + 1] == UInt8(ascii: "t")
                    && base[at + 2] == UInt8(ascii: "\"")
            }
            return texts > 1
        }
    }

    /// How many positions of `byte` in `bytes` satisfy `matches`, counting up to `limit`.
    private static func occurrences(
        of byte: UInt8, in bytes: UnsafeBufferPointer<UInt8>, stoppingAt limit: Int = 1, where matches: (Int) -> Bool
    ) -> Int {
        guard let base = bytes.baseAddress else { return 0 }
        var found = 0
        var from = 0
        while from < bytes.count, let hit = memchr(base + from, Int32(byte), bytes.count - from) {
            let at = base.distance(to: hit.assumingMemoryBound(to: UInt8.self))
            if matches(at) {
                found += 1
                if found >= limit { return found }
            }
            from = at + 1
        }
        return found
    }

    static func describe(_ detector: ContentDetector, count: Int) -> String {
        switch detector {
        case .secrets: count == 1 ? "a secret (API key or private key)" : "\(count) secrets (API keys or private keys)"
        case .creditCards: count == 1 ? "a card number" : "\(count) card numbers"
        case .emails: count == 1 ? "an e-mail address" : "\(count) e-mail addresses"
        }
    }
}
