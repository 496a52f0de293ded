import Providers
import SwitchyardCore
import Testing

/// Provider error bodies (from `Tests/Fixtures/`) sort into the common error classes.
@Suite struct ProviderErrorClassTests {
    static func body(_ text: String) -> [UInt8] { Array(text.utf8) }

    @Test func statusesAndBodiesMapToCommonClasses() {
        let classify = ProviderAdapter.errorClass(forStatus:body:)
        #expect(classify(429, Self.body(ProviderFixture.text("gemini/error-resource-exhausted.json"))) == .rateLimited)
        #expect(classify(529, Self.body(ProviderFixture.text("anthropic/error-overloaded.json"))) == .upstreamOverloaded)
        #expect(classify(503, []) == .upstreamOverloaded)
        #expect(classify(401, []) == .upstreamAuthentication)
        #expect(classify(400, Self.body(ProviderFixture.text("gemini/error-api-key-invalid.json"))) == .upstreamAuthentication)
        #expect(classify(400, Self.body(ProviderFixture.text("anthropic/error-prompt-too-long.json"))) == .contextTooLong)
        #expect(classify(400, Self.body(#"{"error":{"code":"context_length_exceeded"}}"#)) == .contextTooLong)
        #expect(classify(400, Self.body(#"{"error":{"code":"content_policy_violation"}}"#)) == .contentFiltered)
        #expect(classify(400, Self.body(#"{"error":{"message":"Invalid 'safety_identifier'"}}"#)) == .upstreamRejected)
        #expect(classify(504, []) == .upstreamTimeout)
        #expect(classify(500, []) == .upstreamError)
    }
}
