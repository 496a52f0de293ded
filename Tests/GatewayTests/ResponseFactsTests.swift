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
    }
}
