import SwitchyardCore
import Testing
import WireFormats

@testable import DataPlane

/// A provider's reported usage is bounded before a probe is priced: negative counts cannot refill
/// the probe budget, and absurd ones cannot overflow its sums.
@Suite struct ProbeCallerTests {
    @Test func reportedUsageIsClamped() {
        let absurd = TokenUsage(
            inputTokens: .max, outputTokens: -5, cachedInputTokens: -1, cacheWriteInputTokens: .max, reasoningTokens: 9)
        let clamped = ProbeCaller.clamped(absurd)
        #expect(clamped.inputTokens == ProbeCaller.maxReportedTokens)
        #expect(clamped.outputTokens == 0 && clamped.cachedInputTokens == 0 && clamped.reasoningTokens == 0)
        #expect(clamped.cacheWriteInputTokens == ProbeCaller.maxReportedTokens)
        let plain = TokenUsage(inputTokens: 120, outputTokens: 30, cachedInputTokens: 20)
        #expect(ProbeCaller.clamped(plain) == plain)
    }

    /// The same bounds on the request path: a negative cached count cannot price an answer below
    /// its input.
    @Test func reportedUsageOnTheRequestPathIsBounded() {
        var reported = CanonicalUsage(input: 100, output: 10, cacheRead: -50, reasoning: 40)
        let usage = TokenUsage(reported, estimatedInputTokens: 1, estimatedOutputTokens: 1)
        #expect(usage.inputTokens == 100 && usage.cachedInputTokens == 0 && usage.reasoningTokens == 10)
        reported.cacheRead = 500
        #expect(TokenUsage(reported, estimatedInputTokens: 1, estimatedOutputTokens: 1).cachedInputTokens == 100)
    }
}
