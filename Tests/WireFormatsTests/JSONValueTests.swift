import Foundation
import Testing

@testable import WireFormats

@Suite struct JSONValueTests {
    @Test func parsesWhatFoundationParsesAndKeepsNumbersExact() throws {
        let text = #"{"a":[1,-2.50,3e10,true,false,null],"b":{"c":"\u00e9\ud83d\ude82\n\"q\""},"price":0.000000150}"#
        let value = try JSONValue.parse(Array(text.utf8))
        #expect(value["price"] == .number("0.000000150"))
        #expect(value["b"]?["c"] == .string("é🚂\n\"q\""))
        // The serialized form means the same to an independent parser.
        let reparsed = try JSONSerialization.jsonObject(with: Data(value.serialized())) as? NSDictionary
        let original = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? NSDictionary
        #expect(reparsed == original)
    }

    @Test(arguments: [
        ("", "unexpected end"), ("{", "expected a member name"), (#"{"a":1,}"#, "expected a member name"),
        ("[1 2]", "expected ','"), ("01", "leading zero"), (#""\x""#, "invalid escape"), (#""\ud800""#, "unpaired surrogate"),
        ("tru", "unexpected end"), ("{} x", "unexpected data"), ("\"a\u{01}\"", "control character"),
        ("\"abc", "unterminated string"), (#""a\"bc"#, "unterminated string"), (#"{"a":"b}"#, "unterminated string"),
    ])
    func rejectsMalformedDocumentsWithAReason(input: String, reason: String) {
        #expect {
            try JSONValue.parse(Array(input.utf8))
        } throws: { error in
            (error as? JSONParseError)?.reason.contains(reason) == true
        }
    }

    @Test func lenientParsingAcceptsRawControlCharactersInModelOutput() throws {
        let arguments = Array("{\"city\":\"Paris\n\tFrance\"}".utf8)
        #expect(throws: JSONParseError.self) { try JSONValue.parse(arguments) }
        #expect(try JSONValue.parse(arguments, lenient: true)["city"] == .string("Paris\n\tFrance"))
        // Written back out, the control characters are escaped.
        #expect(
            try JSONValue.parse(JSONValue.parse(arguments, lenient: true).serialized())
                == JSONValue.parse(arguments, lenient: true))
    }

    /// Found by the fuzzer: an object with a repeated key did not equal itself. (Only lenient
    /// parsing, for model output, still accepts one.)
    @Test func objectsWithARepeatedKeyCompareTheirValuesInOrder() throws {
        let twice = try JSONValue.parse(Array(#"{"a":1,"a":2}"#.utf8), lenient: true)
        #expect(twice == (try JSONValue.parse(Array(#"{"a":1,"a":2}"#.utf8), lenient: true)))
        #expect(twice != (try JSONValue.parse(Array(#"{"a":2,"a":1}"#.utf8), lenient: true)))
        #expect(twice != (try JSONValue.parse(Array(#"{"a":1,"b":2}"#.utf8))))
        #expect((try JSONValue.parse(Array(#"{"a":1,"b":2}"#.utf8))) == (try JSONValue.parse(Array(#"{"b":2,"a":1}"#.utf8))))
    }

    @Test func rejectsInvalidUTF8AndDeepNesting() {
        #expect(throws: JSONParseError.self) { try JSONValue.parse([0x22, 0xFF, 0xFE, 0x22]) }
        // After an escape too (strings with escapes are read byte by byte).
        #expect(throws: JSONParseError.self) { try JSONValue.parse([0x22, 0x5C, 0x6E, 0xFF, 0x22]) }
        let strings = try? JSONValue.parse(Array(#"["plain","with \"escape\" and é","",  "\u00e9"]"#.utf8))
        #expect(
            strings
                == .array([
                    .string("plain"), .string("with \"escape\" and é"), .string(""), .string("é"),
                ]))
        let deep = String(repeating: "[", count: 100) + String(repeating: "]", count: 100)
        #expect { try JSONValue.parse(Array(deep.utf8)) } throws: { ($0 as? JSONParseError)?.reason.contains("deeper") == true }
        let allowed = String(repeating: "[", count: 64) + String(repeating: "]", count: 64)
        #expect(throws: Never.self) { try JSONValue.parse(Array(allowed.utf8)) }
    }
}

@Suite struct MalformedUpstreamTests {
    @Test func streamDecodersReportBadEventsInsteadOfCrashing() {
        var openAI = OpenAIChatStreamDecoder()
        #expect(throws: StreamDecodingError.self) { try openAI.decode(ServerSentEvent(data: #"{"choices":[{"delta":{"#)) }
        var anthropic = AnthropicStreamDecoder()
        #expect(throws: StreamDecodingError.self) {
            try anthropic.decode(ServerSentEvent(event: "content_block_delta", data: #"{"type":"content_block_delta"}"#))
        }
        var provider = AnthropicStreamDecoder()
        #expect {
            try provider.decode(
                ServerSentEvent(
                    event: "error", data: #"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#))
        } throws: { ($0 as? StreamDecodingError)?.fromProvider == true }
        var gemini = GeminiStreamDecoder()
        #expect(throws: StreamDecodingError.self) { try gemini.decode(ServerSentEvent(data: #"{"candidates":"nope"}"#)) }
    }

    @Test func aStreamWithoutItsStopEventHasNotEndedCleanly() throws {
        var anthropic = AnthropicStreamDecoder()
        _ = try anthropic.decode(
            ServerSentEvent(event: "message_start", data: #"{"type":"message_start","message":{"id":"msg_1","model":"m"}}"#))
        #expect(!anthropic.endedCleanly)
        _ = try anthropic.decode(ServerSentEvent(event: "message_stop", data: #"{"type":"message_stop"}"#))
        #expect(anthropic.endedCleanly)
        var gemini = GeminiStreamDecoder()
        _ = try gemini.decode(ServerSentEvent(data: #"{"candidates":[{"content":{"parts":[{"text":"hi"}]}}]}"#))
        #expect(!gemini.endedCleanly)
    }

    @Test func unknownAnthropicEventTypesAreSkipped() throws {
        var decoder = AnthropicStreamDecoder()
        #expect(try decoder.decode(ServerSentEvent(event: "brand_new", data: #"{"type":"brand_new","x":1}"#)).isEmpty)
    }

    @Test func untranslatableFieldsAreRefusedByName() throws {
        var request = CanonicalRequest(model: "m")
        request.messages = [CanonicalMessage(role: .user, content: [.image(.url("https://example.test/a.png"))])]
        #expect { try GeminiFormat.encodeRequest(request) } throws: { ($0 as? TranslationError)?.kind == .unsupported }
        request.extensions.choiceCount = 3
        #expect { try AnthropicFormat.encodeRequest(request, model: "m") } throws: { ($0 as? TranslationError)?.param == "n" }
        let body = try JSONValue.parse(Array(#"{"model":"m","messages":[],"audio":{"voice":"x"}}"#.utf8))
        #expect { try OpenAIChatFormat.decodeRequest(body) } throws: { ($0 as? TranslationError)?.param == "audio" }
    }
}
