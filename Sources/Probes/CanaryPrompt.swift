import SwitchyardCore

/// One planted fact: the vault named `key` has the access code `code`, placed at `depth` (0: the
/// start of the text, 1: its end).
public struct CanaryFact: Sendable, Equatable, Codable {
    public var key: String
    public var code: String
    public var depth: Double

    public init(key: String, code: String, depth: Double) {
        self.key = key
        self.code = code
        self.depth = depth
    }

    var sentence: String { "The access code for vault \(key) is \(code)." }
}

/// A synthetic long-context prompt: filler text of about `targetTokens` tokens with facts
/// planted at chosen depths, then a question asking for all of them.
///
/// Everything is generated from the random source: the filler's words are made of random
/// syllables, the vault numbers and codes are random, and the question's wording and order vary,
/// so there is no fixed string a provider could recognise and special-case.
public struct CanaryPrompt: Sendable, Equatable {
    public var text: String
    public var facts: [CanaryFact]
    public var targetTokens: Int

    /// Characters per token the filler is sized with: English-like text runs 3.2–4 characters a
    /// token, so 3 errs towards fewer tokens than the target (the prompt must fit the window).
    public static let charactersPerToken = 3
    /// The worst case a budget must allow for: 2 characters a token.
    public static func worstCaseTokens(characters: Int) -> Int { characters / 2 + 1 }

    public static func make(
        targetTokens: Int, depths: [Double], using random: inout some RandomNumberGenerator
    ) -> CanaryPrompt {
        let facts = plantedFacts(depths: depths, using: &random)
        let question = question(for: facts, using: &random)
        let budget = max(0, targetTokens * charactersPerToken - question.count - facts.reduce(0) { $0 + $1.sentence.count + 1 })
        var sentences: [String] = []
        var characters = 0
        while characters < budget {
            let sentence = fillerSentence(using: &random)
            sentences.append(sentence)
            characters += sentence.count + 1
        }
        // Deepest first, so each insertion index is computed against the filler alone.
        for fact in facts.sorted(by: { $0.depth > $1.depth }) {
            let index = min(sentences.count, Int((fact.depth * Double(sentences.count)).rounded()))
            sentences.insert(fact.sentence, at: index)
        }
        let text = sentences.joined(separator: " ") + "\n\n" + question
        return CanaryPrompt(text: text, facts: facts, targetTokens: targetTokens)
    }

    static func plantedFacts(depths: [Double], using random: inout some RandomNumberGenerator) -> [CanaryFact] {
        var keys: Set<Int> = []
        var codes: Set<Int> = []
        return depths.map { depth in
            var key = Int.random(in: 10...999, using: &random)
            while !keys.insert(key).inserted { key = Int.random(in: 10...999, using: &random) }
            var code = Int.random(in: 1000...9999, using: &random)
            while !codes.insert(code).inserted { code = Int.random(in: 1000...9999, using: &random) }
            return CanaryFact(key: String(key), code: String(code), depth: min(1, max(0, depth)))
        }
    }

    static func question(for facts: [CanaryFact], using random: inout some RandomNumberGenerator) -> String {
        let asked = facts.map(\.key).shuffled(using: &random)
        let list = asked.count == 1 ? asked[0] : asked.dropLast().joined(separator: ", ") + " and " + asked[asked.count - 1]
        let noun = asked.count == 1 ? "vault" : "vaults"
        let forms = [
            "What are the access codes for \(noun) \(list)? Answer with one line per vault: vault NUMBER: CODE.",
            "The text above gives access codes. Give the code of \(noun) \(list), one line each as vault NUMBER: CODE.",
            "List the access code of \(noun) \(list) from the text, one per line, as vault NUMBER: CODE.",
        ]
        return forms.randomElement(using: &random)!
    }

    /// A sentence of 6–14 generated words, none of them digits (codes are the only numbers).
    static func fillerSentence(using random: inout some RandomNumberGenerator) -> String {
        let count = Int.random(in: 6...14, using: &random)
        var words: [String] = []
        words.reserveCapacity(count)
        for _ in 0..<count { words.append(word(using: &random)) }
        let first = words[0]
        words[0] = first.prefix(1).uppercased() + first.dropFirst()
        return words.joined(separator: " ") + "."
    }

    static let onsets = [
        "b", "c", "d", "f", "g", "h", "l", "m", "n", "p", "r", "s", "t", "v", "br", "st", "tr", "pl", "gr", "sh",
    ]
    static let vowels = ["a", "e", "i", "o", "u", "ai", "ea", "ou"]
    static let codas = ["", "", "n", "r", "s", "l", "t", "m"]

    static func word(using random: inout some RandomNumberGenerator) -> String {
        var word = ""
        for _ in 0..<Int.random(in: 1...3, using: &random) {
            word +=
                onsets.randomElement(using: &random)! + vowels.randomElement(using: &random)!
                + codas.randomElement(using: &random)!
        }
        return word
    }
}
