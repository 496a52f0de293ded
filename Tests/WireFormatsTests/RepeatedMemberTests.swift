import Foundation
import Testing

@testable import WireFormats

/// A repeated member name is read one way by the gateway and another by the upstream (first
/// versus last occurrence), so the request parser refuses it at any depth, naming the path.
@Suite struct RepeatedMemberTests {
    static let seed = UInt64(ProcessInfo.processInfo.environment["SWITCHYARD_FUZZ_SEED"] ?? "") ?? 0xD0_0B1E

    @Test(arguments: [
        (#"{"max_tokens":5,"model":"chat","max_tokens":100000}"#, "max_tokens"),
        (
            #"{"tools":[{"type":"function","function":{"name":"search","name":"shell","parameters":{}}}]}"#,
            "tools[0].function.name"
        ),
        (#"{"messages":[{"role":"user","content":"a"},{"role":"user","content":"b","content":"long"}]}"#, "messages[1].content"),
        (#"{"stream":false,"stream":true}"#, "stream"),
        (#"{"stream_options":{"include_usage":true,"include_usage":false}}"#, "stream_options.include_usage"),
        // The same name spelled with an escape is the same name.
        (#"{"max_tokens":5,"max\u005ftokens":100000}"#, "max_tokens"),
        (#"[{"a":[1,{"b":1,"b":2}]}]"#, "[0].a[1].b"),
        (#"{"a.b":{"":1,"":2}}"#, #"["a.b"][""]"#),
    ])
    func theReproductionsAreRefusedNamingThePath(body: String, path: String) {
        #expect {
            try JSONValue.parse(Array(body.utf8))
        } throws: { error in
            guard let error = error as? JSONParseError else { return false }
            return error.isRepeatedMember && error.path == path
        }
    }

    @Test func numbersOutsideADoublesRangeAreRefused() throws {
        for text in ["1e999999", "-1e999999", "1E+400", String(repeating: "9", count: 400)] {
            #expect(throws: JSONParseError.self, "\(text)") { try JSONValue.parse(Array(#"{"n":\#(text)}"#.utf8)) }
        }
        for text in ["1e308", "-1.5e-300", "1e-999999", "123456789012345678901234567890", "0.1"] {
            #expect(try JSONValue.parse(Array(#"{"n":\#(text)}"#.utf8)) == .object(["n": .number(text)]), "\(text)")
        }
    }

    /// Random documents with unique member names at every level parse to what was generated; the
    /// same documents with one member repeated in a random object, at a random depth and possibly
    /// spelled with `\u` escapes, are refused with that member's path.
    @Test func randomDocumentsAreRefusedExactlyWhenAMemberRepeats() async throws {
        var random = FuzzRandom(seed: Self.seed)
        var runs = 0
        var planted = 0
        while runs < DecodingFuzzTests.runs {
            runs += 1
            if runs % 32 == 0 { await Task.yield() }  // see DecodingFuzzTests.runs
            var generator = DocumentGenerator(random: random)
            let document = generator.value(depth: 0)
            let text = generator.write(document)
            // Valid: parsed, equal to what was generated, and Foundation agrees it is JSON.
            let parsed = try JSONValue.parse(text)
            #expect(parsed == document, "seed \(Self.seed), run \(runs): a valid document was read differently")
            #expect((try? JSONSerialization.jsonObject(with: Data(text), options: .fragmentsAllowed)) != nil)
            if let (repeated, path) = generator.repeatingOneMember(of: document) {
                planted += 1
                let bytes = generator.write(repeated)
                #expect(
                    throws: JSONParseError.self, "seed \(Self.seed), run \(runs): \(String(decoding: bytes, as: UTF8.self))"
                ) {
                    do throws(JSONParseError) {
                        _ = try JSONValue.parse(bytes)
                    } catch {
                        #expect(error.isRepeatedMember && error.pathComponents == path, "expected \(path), got \(error)")
                        throw error
                    }
                }
            }
            random = generator.random
        }
        #expect(planted > runs / 4, "too few documents had an object to plant a repeat in")
    }
}

/// Random JSON values with unique member names, and their text with keys randomly escaped.
private struct DocumentGenerator {
    var random: FuzzRandom

    static let names = [
        "model", "max_tokens", "name", "content", "a", "é", "名前", "with \"quote\"", "back\\slash", "line\nbreak", "",
    ]

    mutating func value(depth: Int) -> JSONValue {
        switch random.below(depth > 4 ? 4 : 7) {
        case 0: return .string(Self.names[random.below(Self.names.count)])
        case 1: return .number(["0", "-1", "3.25", "1e10", "42"][random.below(5)])
        case 2: return [.null, .bool(true), .bool(false)][random.below(3)]
        case 3: return .string("text \(random.below(1000))")
        case 4, 5:
            var members: [(key: String, value: JSONValue)] = []
            var unused = Self.names
            for _ in 0..<random.below(5) {
                let key = unused.remove(at: random.below(unused.count))
                members.append((key, value(depth: depth + 1)))
            }
            return .object(JSONObject(members))
        default:
            return .array((0..<random.below(4)).map { _ in value(depth: depth + 1) })
        }
    }

    /// `value` with one member of one of its non-empty objects added again (with another value),
    /// and the path the parser should name; nil when it has no such object.
    mutating func repeatingOneMember(of value: JSONValue) -> (JSONValue, [JSONPathComponent])? {
        var targets: [[JSONPathComponent]] = []
        collectObjects(value, path: [], into: &targets)
        guard !targets.isEmpty else { return nil }
        let target = targets[random.below(targets.count)]
        var path: [JSONPathComponent] = []
        let repeated = plant(in: value, at: target, path: [], planted: &path)
        return (repeated, path)
    }

    private func collectObjects(_ value: JSONValue, path: [JSONPathComponent], into targets: inout [[JSONPathComponent]]) {
        switch value {
        case .object(let object):
            if !object.isEmpty { targets.append(path) }
            for member in object { collectObjects(member.value, path: Self.join(path, member: member.key), into: &targets) }
        case .array(let values):
            for (index, element) in values.enumerated() {
                collectObjects(element, path: Self.join(path, element: index), into: &targets)
            }
        default: break
        }
    }

    private mutating func plant(
        in value: JSONValue, at target: [JSONPathComponent], path: [JSONPathComponent], planted: inout [JSONPathComponent]
    ) -> JSONValue {
        switch value {
        case .object(let object):
            var members = object.members.map { member in
                (
                    key: member.key,
                    value: plant(in: member.value, at: target, path: Self.join(path, member: member.key), planted: &planted)
                )
            }
            if path == target {
                let key = members[random.below(members.count)].key
                members.insert((key: key, value: .string("second")), at: random.below(members.count + 1))
                planted = Self.join(path, member: key)
            }
            return .object(JSONObject(members))
        case .array(let values):
            return .array(
                values.enumerated().map { index, element in
                    plant(in: element, at: target, path: Self.join(path, element: index), planted: &planted)
                })
        default: return value
        }
    }

    static func join(_ path: [JSONPathComponent], member key: String) -> [JSONPathComponent] { path + [.member(key)] }
    static func join(_ path: [JSONPathComponent], element index: Int) -> [JSONPathComponent] { path + [.element(index)] }

    /// The value's text, each character of a member name escaped as `\uXXXX` one time in four.
    mutating func write(_ value: JSONValue) -> [UInt8] {
        switch value {
        case .object(let object):
            var output: [UInt8] = [UInt8(ascii: "{")]
            for (index, member) in object.members.enumerated() {
                if index > 0 { output.append(UInt8(ascii: ",")) }
                output += escapedKey(member.key)
                output.append(UInt8(ascii: ":"))
                output += write(member.value)
            }
            return output + [UInt8(ascii: "}")]
        case .array(let values):
            var output: [UInt8] = [UInt8(ascii: "[")]
            for (index, element) in values.enumerated() {
                if index > 0 { output.append(UInt8(ascii: ",")) }
                output += write(element)
            }
            return output + [UInt8(ascii: "]")]
        default:
            return value.serialized()
        }
    }

    private mutating func escapedKey(_ key: String) -> [UInt8] {
        guard random.chance(1, in: 4) else { return JSONText.string(key) }
        var output: [UInt8] = [UInt8(ascii: "\"")]
        for unit in key.utf16 {
            let hex = String(unit, radix: 16)
            output += Array(("\\u" + String(repeating: "0", count: 4 - hex.count) + hex).utf8)
        }
        return output + [UInt8(ascii: "\"")]
    }
}
