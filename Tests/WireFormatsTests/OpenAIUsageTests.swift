import Foundation
import Testing

@testable import WireFormats

/// The usage reader on the response path must agree with what `JSONDecoder` made of the same bytes.
@Suite struct OpenAIUsageTests {
    static let samples = [
        #"{"prompt_tokens":10,"completion_tokens":8,"total_tokens":18}"#,
        #"{"prompt_tokens":1200,"completion_tokens":300,"prompt_tokens_details":{"cached_tokens":1024,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":128}}"#,
        #"{"prompt_tokens":5,"completion_tokens":null,"prompt_tokens_details":null}"#,
        #"{"completion_tokens":3}"#,
        #"{}"#,
        #"{"prompt_tokens":"10","completion_tokens":8}"#,
        #"{"prompt_tokens":10.5,"completion_tokens":8}"#,
        #"{"prompt_tokens":10,"prompt_tokens_details":[1]}"#,
        #"[1,2]"#,
        #"{"prompt_tokens":10"#,
    ]

    @Test(arguments: samples) func agreesWithJSONDecoder(_ sample: String) {
        let decoded = try? JSONDecoder().decode(OpenAIUsage.self, from: Data(sample.utf8))
        #expect(OpenAIUsage(json: Array(sample.utf8)) == decoded, "\(sample)")
    }

    @Test func readsEveryCount() throws {
        let usage = try #require(OpenAIUsage(json: Array(Self.samples[1].utf8)))
        #expect(usage.tokenUsage.inputTokens == 1200 && usage.tokenUsage.outputTokens == 300)
        #expect(usage.tokenUsage.cachedInputTokens == 1024 && usage.tokenUsage.reasoningTokens == 128)
    }
}
