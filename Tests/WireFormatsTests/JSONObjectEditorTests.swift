import Foundation
import Testing

@testable import WireFormats

@Suite struct JSONObjectEditorTests {
    func edit(_ json: String, _ replacements: [(String, String)]) -> String? {
        guard let editor = JSONObjectEditor(Array(json.utf8)) else { return nil }
        return String(decoding: editor.replacing(replacements.map { ($0.0, Array($0.1.utf8)) }), as: UTF8.self)
    }

    @Test func replacesOnlyTheNamedValueAndKeepsEverythingElseByteForByte() {
        let body =
            #"{ "model" : "chat", "messages":[{"role":"user","content":"hi \"model\": x"}], "x_unknown": {"a":[1,2,{"b":null}]} }"#
        let edited = edit(body, [("model", #""gemma-3-270m""#)])
        #expect(edited == body.replacingOccurrences(of: #""chat""#, with: #""gemma-3-270m""#))
    }

    @Test func appendsMissingMembers() {
        #expect(
            edit(#"{"model":"a","stream":true}"#, [("stream_options", #"{"include_usage":true}"#)])
                == #"{"model":"a","stream":true,"stream_options":{"include_usage":true}}"#)
        #expect(edit("{}", [("a", "1")]) == #"{"a":1}"#)
        #expect(edit(" { } ", [("a", "1")]) == #" { "a":1} "#)
    }

    @Test func replacesExistingObjectValues() {
        #expect(
            edit(#"{"stream_options":{"include_usage":false},"n":1}"#, [("stream_options", #"{"include_usage":true}"#)])
                == #"{"stream_options":{"include_usage":true},"n":1}"#)
    }

    @Test func readsEscapedKeysAndValues() throws {
        let editor = try #require(JSONObjectEditor(Array(#"{"mo\u0064el":"x","e":"\u00e9\ud83d\ude00"}"#.utf8)))
        #expect(editor.members.map(\.key) == ["model", "e"])
        #expect(editor.value(of: "model").map { String(decoding: $0, as: UTF8.self) } == #""x""#)
        let escapedKey = try #require(JSONObjectEditor(Array(#"{"\u00e9\ud83d\ude00\n":1}"#.utf8)))
        #expect(escapedKey.members.map(\.key) == ["é😀\n"])
    }

    @Test(arguments: [
        "", "[]", "\"x\"", "{", "{\"a\"}", "{\"a\":}", "{\"a\":1,}", "{\"a\":1} x", "{\"a\":tru}", "{\"a\":[1,}",
        "{a:1}", "{\"a\":\"unterminated}",
        // What the parser refuses, the editor refuses: the two read tokens with one reader.
        #"{"a\x":1}"#, #"{"\ud800":1}"#, #"{"a":"\udc00"}"#, #"{"a":01}"#, #"{"a":1.}"#, #"{"a":-}"#, #"{"a":1e}"#,
        #"{"a":+1}"#, #"{"a":"\u12"}"#,
    ])
    func rejectsMalformedDocuments(_ text: String) {
        #expect(JSONObjectEditor(Array(text.utf8)) == nil)
    }

    @Test func stringLiteralsEscapeControlCharacters() throws {
        let literal = String(decoding: JSONText.string("a\"b\\c\nd\u{01}"), as: UTF8.self)
        #expect(literal == #""a\"b\\c\nd\u0001""#)
        #expect(try JSONDecoder().decode(String.self, from: Data(literal.utf8)) == "a\"b\\c\nd\u{01}")
    }
}
