import SwitchyardCore

/// Finds secrets, card numbers and e-mail addresses in request bytes with hand-written scanners
/// (no regular expressions: this runs on every governed request).
///
/// It reads the body as sent, JSON included; every match is made of characters that need no JSON
/// escaping (private keys keep their `\n` escapes inside the match), so replacing a match with
/// plain text keeps the JSON valid. Text hidden behind `\u` escapes or split over a message's
/// parts is found by scanning the decoded strings as well (`ContentGuard.hiddenHits`).
public enum ContentScanner {
    public struct Match: Hashable, Sendable {
        public var detector: ContentDetector
        public var range: Range<Int>
    }

    public static func scan(_ bytes: [UInt8], for detectors: Set<ContentDetector>) -> [Match] {
        var matches: [Match] = []
        if detectors.contains(.secrets) { matches += secrets(bytes) }
        if detectors.contains(.creditCards) { matches += cards(bytes) }
        if detectors.contains(.emails) { matches += emails(bytes) }
        // Overlaps (a key inside an e-mail-looking string) keep the first, longest match.
        matches.sort { ($0.range.lowerBound, -$0.range.count) < ($1.range.lowerBound, -$1.range.count) }
        var kept: [Match] = []
        for match in matches where kept.last.map({ $0.range.upperBound <= match.range.lowerBound }) ?? true {
            kept.append(match)
        }
        return kept
    }

    /// `bytes` with every match replaced by `[REDACTED:<detector>]`.
    public static func redact(_ bytes: [UInt8], _ matches: [Match]) -> [UInt8] {
        var output: [UInt8] = []
        output.reserveCapacity(bytes.count)
        var position = 0
        for match in matches.sorted(by: { $0.range.lowerBound < $1.range.lowerBound }) where match.range.lowerBound >= position {
            output += bytes[position..<match.range.lowerBound]
            output += Array("[REDACTED:\(match.detector.rawValue)]".utf8)
            position = match.range.upperBound
        }
        output += bytes[position...]
        return output
    }

    // MARK: Secrets

    /// Token prefixes of well-known credentials, the characters that follow, and how many at least.
    enum TokenBody: Sendable {
        case token, upperOrDigit, alphanumeric

        func accepts(_ byte: UInt8) -> Bool {
            switch self {
            case .token: ContentScanner.isTokenCharacter(byte)
            case .upperOrDigit: ContentScanner.isUpperOrDigit(byte)
            case .alphanumeric: ContentScanner.isAlphanumeric(byte)
            }
        }
    }

    static let tokenShapes: [(prefix: [UInt8], body: TokenBody, minimum: Int)] = [
        (Array("sk-".utf8), .token, 20),  // OpenAI, Anthropic (sk-ant-…), DeepSeek, Switchyard (sk-sy-…)
        (Array("AKIA".utf8), .upperOrDigit, 16),  // AWS access key id
        (Array("ASIA".utf8), .upperOrDigit, 16),
        (Array("ghp_".utf8), .alphanumeric, 36),  // GitHub tokens
        (Array("gho_".utf8), .alphanumeric, 36),
        (Array("ghs_".utf8), .alphanumeric, 36),
        (Array("github_pat_".utf8), .token, 40),
        (Array("xoxb-".utf8), .token, 20),  // Slack
        (Array("xoxp-".utf8), .token, 20),
        (Array("AIza".utf8), .token, 35),  // Google API key
        (Array("glpat-".utf8), .token, 20),  // GitLab
        (Array("sk_live_".utf8), .alphanumeric, 20),  // Stripe
        (Array("rk_live_".utf8), .alphanumeric, 20),
    ]

    static func secrets(_ bytes: [UInt8]) -> [Match] {
        var matches: [Match] = []
        var index = 0
        while index < bytes.count {
            // Nearly every byte starts nothing: one table lookup instead of trying every shape.
            guard mayStartSecret[Int(bytes[index])] else {
                index += 1
                continue
            }
            if let end = privateKeyEnd(bytes, from: index) {
                matches.append(Match(detector: .secrets, range: index..<end))
                index = end
                continue
            }
            // A token starts at a boundary, so "task-…" does not look like "sk-…".
            let atBoundary = index == 0 || !isTokenCharacter(bytes[index - 1]) || followsEscape(bytes, index)
            if atBoundary, let end = tokenEnd(bytes, from: index) {
                matches.append(Match(detector: .secrets, range: index..<end))
                index = end
                continue
            }
            index += 1
        }
        return matches
    }

    /// The first bytes of the token prefixes and of a PEM header.
    static let mayStartSecret: [Bool] = {
        var table = [Bool](repeating: false, count: 256)
        for shape in tokenShapes { table[Int(shape.prefix[0])] = true }
        table[Int(pemBegin[0])] = true
        return table
    }()

    /// Whether the byte at `index` follows a JSON escape that reads as white space (`\n`, `\t`,
    /// `\r`, `\b`, `\f`): the escape's letter is not part of a word, so a number or key after
    /// it starts at a boundary.
    static func followsEscape(_ bytes: [UInt8], _ index: Int) -> Bool {
        guard index >= 2, bytes[index - 2] == UInt8(ascii: "\\") else { return false }
        switch bytes[index - 1] {
        case UInt8(ascii: "n"), UInt8(ascii: "t"), UInt8(ascii: "r"), UInt8(ascii: "b"), UInt8(ascii: "f"): return true
        default: return false
        }
    }

    static func tokenEnd(_ bytes: [UInt8], from start: Int) -> Int? {
        for shape in tokenShapes where bytes.count - start > shape.prefix.count && has(shape.prefix, in: bytes, at: start) {
            var end = start + shape.prefix.count
            while end < bytes.count && shape.body.accepts(bytes[end]) { end += 1 }
            if end - start - shape.prefix.count >= shape.minimum { return end }
        }
        return nil
    }

    static let pemBegin = Array("-----BEGIN ".utf8)
    static let pemKeyEnd = Array("PRIVATE KEY-----".utf8)

    /// The end of a PEM private key starting at `start` (`-----BEGIN … PRIVATE KEY-----` through
    /// its `-----END … PRIVATE KEY-----`, or to the end of the string when the footer is missing).
    static func privateKeyEnd(_ bytes: [UInt8], from start: Int) -> Int? {
        guard has(pemBegin, in: bytes, at: start) else { return nil }
        var index = start + pemBegin.count
        let headerLimit = min(bytes.count, index + 40)
        while index < headerLimit && !has(pemKeyEnd, in: bytes, at: index) { index += 1 }
        guard index < headerLimit else { return nil }
        index += pemKeyEnd.count
        // The body: base64 and escaped line breaks, up to the footer's own "PRIVATE KEY-----".
        while index < bytes.count && bytes[index] != UInt8(ascii: "\"") {
            if has(pemKeyEnd, in: bytes, at: index) { return index + pemKeyEnd.count }
            index += 1
        }
        return index
    }

    // MARK: Card numbers

    static func cards(_ bytes: [UInt8]) -> [Match] {
        var matches: [Match] = []
        var index = 0
        var digits: [UInt8] = []  // reused: one allocation per scan, not one per number
        while index < bytes.count {
            guard isDigit(bytes[index]), index == 0 || !isAlphanumeric(bytes[index - 1]) || followsEscape(bytes, index) else {
                index += 1
                continue
            }
            // Digits with single spaces or dashes between groups.
            digits.removeAll(keepingCapacity: true)
            var end = index
            var cursor = index
            while cursor < bytes.count {
                if isDigit(bytes[cursor]) {
                    digits.append(bytes[cursor] - UInt8(ascii: "0"))
                    cursor += 1
                    end = cursor
                } else if (bytes[cursor] == UInt8(ascii: " ") || bytes[cursor] == UInt8(ascii: "-")),
                    cursor + 1 < bytes.count, isDigit(bytes[cursor + 1]), digits.count < 19
                {
                    cursor += 1
                } else {
                    break
                }
                if digits.count > 19 { break }
            }
            let followedByWord = end < bytes.count && isAlphanumeric(bytes[end])
            if (13...19).contains(digits.count), !followedByWord, luhn(digits) {
                matches.append(Match(detector: .creditCards, range: index..<end))
            }
            index = max(end, index + 1)
        }
        return matches
    }

    public static func luhn(_ digits: [UInt8]) -> Bool {
        var sum = 0
        for (offset, digit) in digits.reversed().enumerated() {
            var value = Int(digit)
            if offset % 2 == 1 {
                value *= 2
                if value > 9 { value -= 9 }
            }
            sum += value
        }
        return sum % 10 == 0
    }

    // MARK: E-mail addresses

    static func emails(_ bytes: [UInt8]) -> [Match] {
        var matches: [Match] = []
        var searchFrom = 0
        for at in bytes.indices where bytes[at] == UInt8(ascii: "@") && at >= searchFrom {
            var start = at
            while start > 0 && isLocalPartCharacter(bytes[start - 1]) { start -= 1 }
            // A JSON escape before the address (\n, \t) is not part of it.
            if start > 0, bytes[start - 1] == UInt8(ascii: "\\") { start += 1 }
            guard start < at else { continue }
            var end = at + 1
            while end < bytes.count && isDomainCharacter(bytes[end]) { end += 1 }
            // Trailing dots end a sentence, not the domain.
            while end > at + 1 && bytes[end - 1] == UInt8(ascii: ".") { end -= 1 }
            guard let dot = bytes[(at + 1)..<end].lastIndex(of: UInt8(ascii: ".")), dot > at + 1, end - dot - 1 >= 2,
                bytes[(dot + 1)..<end].allSatisfy(isLetter)
            else { continue }
            matches.append(Match(detector: .emails, range: start..<end))
            searchFrom = end
        }
        return matches
    }

    // MARK: Character classes

    static func has(_ needle: [UInt8], in bytes: [UInt8], at index: Int) -> Bool {
        guard index + needle.count <= bytes.count else { return false }
        for offset in needle.indices where bytes[index + offset] != needle[offset] { return false }
        return true
    }

    static func isDigit(_ byte: UInt8) -> Bool { byte >= 0x30 && byte <= 0x39 }
    static func isLetter(_ byte: UInt8) -> Bool { (byte | 0x20) >= 0x61 && (byte | 0x20) <= 0x7A }
    static func isAlphanumeric(_ byte: UInt8) -> Bool { isDigit(byte) || isLetter(byte) }
    static func isUpperOrDigit(_ byte: UInt8) -> Bool { isDigit(byte) || (byte >= 0x41 && byte <= 0x5A) }
    static func isTokenCharacter(_ byte: UInt8) -> Bool {
        isAlphanumeric(byte) || byte == UInt8(ascii: "-") || byte == UInt8(ascii: "_")
    }
    static func isDomainCharacter(_ byte: UInt8) -> Bool {
        isAlphanumeric(byte) || byte == UInt8(ascii: "-") || byte == UInt8(ascii: ".")
    }
    static func isLocalPartCharacter(_ byte: UInt8) -> Bool {
        isAlphanumeric(byte) || byte == UInt8(ascii: ".") || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "%")
            || byte == UInt8(ascii: "+") || byte == UInt8(ascii: "-")
    }
}
