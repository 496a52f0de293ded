import SwitchyardCore
import Testing

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
}
