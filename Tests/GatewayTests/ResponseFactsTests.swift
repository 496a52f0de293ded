import Testing
import WireFormats

@testable import DataPlane

@Suite struct ResponseFactsTests {
    func id(_ json: String) -> String? {
        JSONObjectEditor(Array(json.utf8), generated: true).flatMap(ResponseFacts.id(in:))
    }

    /// A plain id is its bytes between the quotes; an escaped one is decoded; an empty, a too
    /// long or a non-string one is no id.
    @Test func anAnswersIdAsTheSpanCarriesIt() {
        #expect(id(#"{"id":"chatcmpl-123","object":"chat.completion"}"#) == "chatcmpl-123")
        #expect(id(#"{"id":"a\"b\u00e9"}"#) == "a\"bé")
        #expect(id(#"{"id":"é-1"}"#) == "é-1")
        #expect(id(#"{"id":""}"#) == nil)
        #expect(id(#"{"id":7}"#) == nil)
        #expect(id(#"{"id":"\#(String(repeating: "x", count: 256))"}"#)?.count == 256)
        #expect(id(#"{"id":"\#(String(repeating: "x", count: 257))"}"#) == nil)
        #expect(id(#"{"object":"chat.completion"}"#) == nil)
        #expect(id("{\"id\":\"a\u{01}b\"}") == nil)  // a raw control byte: not JSON
    }

    /// A translated answer's events: the first start's id, every stop in OpenAI's words, at most
    /// as many as the scanner keeps.
    @Test func aTranslatedAnswersFactsFromItsEvents() {
        var facts = ResponseFacts()
        facts.read(.start(id: "", model: "m"))
        facts.read(.start(id: "msg_1", model: "m"))
        facts.read(.start(id: "msg_2", model: "m"))
        facts.read(.textDelta("hi"))
        facts.read(.stop(.maxTokens))
        facts.read(.stop(.toolUse))
        #expect(facts.id == "msg_1")
        #expect(facts.finishReasons == ["length", "tool_calls"])
        for _ in 0..<40 { facts.read(.stop(.endTurn)) }
        #expect(facts.finishReasons.count == OpenAIChunkScanner.maximumFinishReasons)
        var long = ResponseFacts()
        long.read(.start(id: String(repeating: "x", count: 257), model: "m"))
        long.read(.stop(.other(String(repeating: "r", count: 65))))
        long.read(.stop(.other("pause_turn")))
        #expect(long.id == nil)
        #expect(long.finishReasons == ["pause_turn"])
    }
}
