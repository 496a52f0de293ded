import SwitchyardCore
import WireFormats

extension TokenUsage {
    /// What a translated answer used: as the provider reported it, or estimated when it reported
    /// nothing.
    init(_ reported: CanonicalUsage?, estimatedInputTokens: Int, estimatedOutputTokens: Int) {
        guard let reported, reported.input > 0 || reported.output > 0 else {
            self.init(inputTokens: estimatedInputTokens, outputTokens: estimatedOutputTokens, isEstimated: true)
            return
        }
        self.init(
            inputTokens: reported.input, outputTokens: reported.output, cachedInputTokens: reported.cacheRead,
            cacheWriteInputTokens: reported.cacheWrite, reasoningTokens: reported.reasoning)
    }
}
