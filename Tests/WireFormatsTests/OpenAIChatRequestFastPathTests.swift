import Foundation
import Testing

@testable import WireFormats

/// The hot path reads chat requests from `JSONValue`; whatever it accepts must read exactly as
/// `JSONDecoder` reads it, and whatever `JSONDecoder` refuses it must leave to `JSONDecoder`.
@Suite struct OpenAIChatRequestFastPathTests {
    /// Read by the fast path.
    static let wellFormed = [
        #"{"model":"m","messages":[{"role":"user","content":"hi"}]}"#,
        #"{"model":"m","messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"Paris?"}],"max_tokens":64,"temperature":0.2,"stream":true}"#,
        #"{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"look"},{"type":"image_url","image_url":{"url":"data:,"}}]}],"max_completion_tokens":5}"#,
        #"{"model":"m","messages":[{"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"function","function":{"name":"get","arguments":"{}"}}]},{"role":"tool","content":"42","tool_call_id":"c1"}]}"#,
        #"{"model":"m","messages":[],"stream":false,"stream_options":{"include_usage":true},"metadata":{"team":"a","feature":"b"},"response_format":{"type":"json_object"}}"#,
        #"{"model":"m","messages":[{"role":"user"}],"stream":null,"max_tokens":null,"metadata":null,"stream_options":null,"response_format":{}}"#,
        #"{"model":"m\u00e9","messages":[{"role":"user","content":"a\"b\\c\n\ud83d\ude00"}],"max_tokens":-1}"#,
    ]

    /// Left to JSONDecoder: it refuses them (with a message naming the field) or reads a shape
    /// the fast path does not try.
    static let other = [
        #"{"messages":[]}"#,
        #"{"model":7,"messages":[]}"#,
        #"{"model":"m","messages":{}}"#,
        #"{"model":"m","messages":[{"content":"no role"}]}"#,
        #"{"model":"m","messages":[{"role":"user","content":7}]}"#,
        #"{"model":"m","messages":[{"role":"user","content":[{"text":"no type"}]}]}"#,
        #"{"model":"m","messages":[],"stream":"true"}"#,
        #"{"model":"m","messages":[],"max_tokens":64.0}"#,
        #"{"model":"m","messages":[],"max_tokens":"64"}"#,
        #"{"model":"m","messages":[],"metadata":{"n":1}}"#,
        #"{"model":"m","messages":[],"stream_options":{"include_usage":"yes"}}"#,
        #"{"model":"m","messages":[{"role":"assistant","tool_calls":[{"function":{"name":5}}]}]}"#,
        #"{"model":"a","model":"b","messages":[]}"#,
        #"[1]"#,
    ]

    static func decoded(_ sample: String) -> OpenAIChatRequest? {
        try? JSONDecoder().decode(OpenAIChatRequest.self, from: Data(sample.utf8))
    }

    static func fast(_ sample: String) -> OpenAIChatRequest? {
        (try? JSONValue.parse(Array(sample.utf8))).flatMap(OpenAIChatRequest.init(json:))
    }

    @Test(arguments: wellFormed) func readsWellFormedRequestsAsJSONDecoderDoes(_ sample: String) throws {
        let fast = try #require(Self.fast(sample), "the fast path gave up on \(sample)")
        let decoded = try #require(Self.decoded(sample))
        #expect(fast.readsLike(decoded))
    }

    @Test(arguments: other) func leavesEverythingElseToJSONDecoder(_ sample: String) {
        #expect(Self.fast(sample) == nil, "\(sample)")
    }

    @Test func readsEveryField() throws {
        let request = try #require(Self.fast(Self.wellFormed[4]))
        #expect(request.model == "m" && request.messages.isEmpty && request.stream == false)
        #expect(request.clientWantsStreamUsage && request.wantsJSON)
        #expect(request.metadata == ["team": "a", "feature": "b"])
        let tools = try #require(Self.fast(Self.wellFormed[3]))
        #expect(tools.messages[0].toolCalls?.first?.function?.name == "get")
        #expect(tools.messages[0].content == nil)
        #expect(Self.fast(Self.wellFormed[2])?.hasImages == true)
    }
}

extension OpenAIChatRequest {
    /// Every field equal. Compared through the description, with `metadata` apart: a
    /// dictionary's description follows its per-process hash order.
    func readsLike(_ other: OpenAIChatRequest) -> Bool {
        var (this, that) = (self, other)
        (this.metadata, that.metadata) = (nil, nil)
        return metadata == other.metadata && String(describing: this) == String(describing: that)
    }
}
