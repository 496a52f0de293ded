import Foundation
import Testing

@testable import WireFormats

/// Our JSON readers against Foundation's `JSONSerialization` on random and adversarial text:
/// what we accept, Foundation accepts and reads as the same value; what we refuse and Foundation
/// accepts is refused only by one of our deliberate stricter rules (a repeated member, nesting
/// past the limit, a number beyond a double) or by the RFC (Foundation reads a trailing comma). The object editor, which reads the same bytes on
/// the hot path, finds the same members with the same values. A gateway whose readers disagree
/// with the upstream's can be told one thing while the upstream reads another.
///
/// `SWITCHYARD_FUZZ_RUNS` inputs (default 3000); `SWITCHYARD_FUZZ_SEED` replays a run.
@Suite struct JSONDifferentialFuzzTests {
    @Test func ourReadersAgreeWithFoundation() async throws {
        var generator = JSONTextGenerator(random: FuzzRandom(seed: DecodingFuzzTests.seed ^ 0x7150))
        var runs = 0
        var accepted = 0
        var refusedByBoth = 0
        while runs < DecodingFuzzTests.runs {
            runs += 1
            if runs % 32 == 0 { await Task.yield() }  // see DecodingFuzzTests.runs
            let input: [UInt8] =
                switch generator.random.below(3) {
                case 0: generator.document()
                case 1: generator.random.mutate(generator.document())
                default:
                    generator.random.mutate(
                        DecodingFuzzTests.requestCorpus[generator.random.below(DecodingFuzzTests.requestCorpus.count)])
                }
            let context = "seed \(DecodingFuzzTests.seed), run \(runs): \(Self.show(input))"
            let foundation = try? JSONSerialization.jsonObject(with: Data(input), options: [.fragmentsAllowed])
            let ours: Result<JSONValue, JSONParseError>
            do { ours = .success(try JSONValue.parse(input)) } catch { ours = .failure(error) }
            switch (ours, foundation) {
            case (.success(let value), .some(let other)):
                accepted += 1
                #expect(Self.same(value, other), "Foundation reads another value; \(context)")
                try Self.checkEditor(input, agreesWith: value, context)
            case (.success, .none):
                Issue.record("we accept what Foundation refuses; \(context)")
            case (.failure(let error), .some):
                #expect(
                    error.isRepeatedMember || error.reason.hasPrefix("JSON nested deeper")
                        || error.reason == "number out of range" || Self.isTrailingComma(input, at: error.offset),
                    "we refuse (\(error)) what Foundation accepts, for no stated reason; \(context)")
            case (.failure, .none):
                refusedByBoth += 1
            }
        }
        #expect(accepted > runs / 20 && refusedByBoth > runs / 20, "accepted \(accepted), refused \(refusedByBoth) of \(runs)")
    }

    /// Text that every JSON reader must refuse or read one way; each was a disagreement between
    /// two of our own readers, or between ours and an upstream's.
    @Test(arguments: [
        #"{"a":"\ud800"}"#, #"{"a":"\udc00\ud800"}"#, #"{"a":"\ud800\u0041"}"#, #"{"\ud800x":1}"#, #"{"a":"\x"}"#,
        #"{"a":"\u00g0"}"#, #"{"a":"\'"}"#, #"{"a":01}"#, #"{"a":1.}"#, #"{"a":.5}"#, #"{"a":1e+}"#, "{\"a\":\"\u{01}\"}",
    ])
    func refusedByEveryReader(_ text: String) {
        let bytes = Array(text.utf8)
        #expect(throws: JSONParseError.self) { try JSONValue.parse(bytes) }
        #expect(JSONObjectEditor(bytes) == nil)
        #expect((try? JSONSerialization.jsonObject(with: Data(bytes), options: [.fragmentsAllowed])) == nil)
    }

    @Test func escapesReadTheSameEverywhere() throws {
        let text = #"{"k\u00e9\ud83d\ude00\/\"":"\u0000\b\f\n\r\t\u20AC\uD83D\uDE00"}"#
        let value = try JSONValue.parse(Array(text.utf8))
        let object = try #require(JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: String])
        #expect(value == .object(JSONObject([(key: "ké😀/\"", value: .string("\u{0}\u{8}\u{C}\n\r\t€😀"))])))
        #expect(Self.same(value, object))
        #expect(JSONObjectEditor(Array(text.utf8))?.members.map(\.key) == ["ké😀/\""])
    }

    /// Foundation reads `[1,]` and `{"a":1,}` (RFC 8259 does not, nor do we, nor Python's `json`).
    static func isTrailingComma(_ input: [UInt8], at offset: Int) -> Bool {
        guard offset < input.count, input[offset] == UInt8(ascii: "}") || input[offset] == UInt8(ascii: "]") else {
            return false
        }
        return input[..<offset].last { !JSONSyntax.isWhitespace($0) } == UInt8(ascii: ",")
    }

    static func checkEditor(_ input: [UInt8], agreesWith value: JSONValue, _ context: String) throws {
        guard case .object(let object) = value else { return }
        let editor = try #require(JSONObjectEditor(input), "the editor refuses an object the parser reads; \(context)")
        #expect(editor.members.map(\.key) == object.map(\.key), "the editor reads other member names; \(context)")
        for member in editor.members {
            let read = try? JSONValue.parse(Array(input[member.valueRange]))
            #expect(read == object[member.key], "the editor's '\(member.key)' reads otherwise; \(context)")
        }
    }

    /// The same value, numbers compared as doubles (Foundation reads them as NSNumber).
    static func same(_ ours: JSONValue, _ theirs: Any) -> Bool {
        switch ours {
        case .null: return theirs is NSNull
        case .bool(let bool): return (theirs as? Bool) == bool
        case .string(let string): return (theirs as? String) == string
        case .number(let text):
            guard let number = theirs as? NSNumber, let ours = Double(text) else { return false }
            let other = number.doubleValue
            return ours == other || abs(ours - other) <= 1e-12 * max(abs(ours), abs(other))
        case .array(let values):
            guard let array = theirs as? [Any], array.count == values.count else { return false }
            return zip(values, array).allSatisfy { same($0, $1) }
        case .object(let object):
            guard let dictionary = theirs as? [String: Any], dictionary.count == object.members.count else { return false }
            return object.allSatisfy { member in dictionary[member.key].map { same(member.value, $0) } ?? false }
        }
    }

    static func show(_ bytes: [UInt8]) -> String {
        let text = String(decoding: bytes.prefix(300), as: UTF8.self).debugDescription
        return bytes.count > 300 ? text + "…" : text
    }
}

/// Random JSON text aimed at the corners of strings and numbers: every escape, surrogates paired
/// and not, multi-byte and invalid UTF-8, control characters, numbers on and off the grammar, and
/// repeated member names.
struct JSONTextGenerator {
    var random: FuzzRandom
    /// Whether this document may hold text off the grammar (else it is valid JSON, but for
    /// repeated names and out-of-range numbers, which only we refuse).
    var hostile = false

    mutating func document() -> [UInt8] {
        hostile = random.chance(1, in: 2)
        var output: [UInt8] = []
        value(depth: 0, into: &output)
        return output
    }

    mutating func value(depth: Int, into output: inout [UInt8]) {
        switch random.below(depth > 4 ? 3 : 5) {
        case 0: string(into: &output)
        case 1: number(into: &output)
        case 2:
            output += Array(
                ["true", "false", "null", "nul", "True"][random.below(hostile && random.chance(1, in: 10) ? 5 : 3)].utf8)
        case 3:
            output.append(UInt8(ascii: "["))
            for index in 0..<random.below(4) {
                if index > 0 { output.append(UInt8(ascii: ",")) }
                whitespace(into: &output)
                value(depth: depth + 1, into: &output)
            }
            output.append(UInt8(ascii: "]"))
        default:
            output.append(UInt8(ascii: "{"))
            var names: [[UInt8]] = []
            for index in 0..<random.below(5) {
                if index > 0 { output.append(UInt8(ascii: ",")) }
                var name: [UInt8] = []
                if !names.isEmpty, random.chance(1, in: 20) {
                    name = names[random.below(names.count)]
                } else {
                    string(into: &name)
                }
                names.append(name)
                output += name
                whitespace(into: &output)
                output.append(UInt8(ascii: ":"))
                value(depth: depth + 1, into: &output)
            }
            output.append(UInt8(ascii: "}"))
        }
    }

    mutating func whitespace(into output: inout [UInt8]) {
        if random.chance(1, in: 4) { output.append([0x20, 0x09, 0x0A, 0x0D][random.below(4)]) }
    }

    static let pieces: [[UInt8]] = [
        Array("a".utf8), Array("Z".utf8), Array("é".utf8), Array("😀".utf8), Array("€".utf8), Array(#"\""#.utf8),
        Array(#"\\"#.utf8), Array(#"\/"#.utf8), Array(#"\b"#.utf8), Array(#"\f"#.utf8), Array(#"\n"#.utf8),
        Array(#"\r"#.utf8), Array(#"\t"#.utf8), Array(#"\u0041"#.utf8), Array(#"\u00E9"#.utf8), Array(#"\u0000"#.utf8),
        Array(#"\uD83D\uDE00"#.utf8), Array(#"\ud83d\ude00"#.utf8), Array(#"\uFFFF"#.utf8),
    ]
    static let hostilePieces: [[UInt8]] = [
        Array(#"\ud800"#.utf8), Array(#"\udc00"#.utf8), Array(#"\ud800\u0041"#.utf8), Array(#"\x"#.utf8),
        Array(#"\u12"#.utf8), Array(#"\uZZZZ"#.utf8), Array(#"\'"#.utf8), [0x01], [0x1F], [0xFF], [0xC0, 0x80],
        [0xED, 0xA0, 0x80], [0xF4, 0x90, 0x80, 0x80], [0xE2, 0x82],
    ]

    mutating func string(into output: inout [UInt8]) {
        output.append(UInt8(ascii: "\""))
        for _ in 0..<random.below(6) {
            output +=
                hostile && random.chance(1, in: 10)
                ? Self.hostilePieces[random.below(Self.hostilePieces.count)] : Self.pieces[random.below(Self.pieces.count)]
        }
        output.append(UInt8(ascii: "\""))
    }

    static let numbers = [
        "0", "-0", "7", "-12", "3.25", "1e3", "1E-3", "-2.5e+10", "123456789012345678", "1e308", "-1e-320", "0.1",
        // Off the grammar, or beyond a double.
        "01", "1.", ".5", "-", "1e", "1e+", "+1", "0x10", "1e999", "-1e400", "NaN", "Infinity",
    ]

    mutating func number(into output: inout [UInt8]) {
        output += Array(Self.numbers[random.below(hostile && random.chance(1, in: 6) ? Self.numbers.count : 12)].utf8)
    }
}
