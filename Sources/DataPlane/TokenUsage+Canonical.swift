import SwitchyardCore
import WireFormats

extension TokenUsage {
    /// What a translated answer used: as the provider reported it, or estimated when it reported
    /// nothing. Negative counts are read as 0, and the cached and reasoning parts as no more than
    /// their whole: a provider's nonsense must not price an answer below nothing.
    init(_ reported: CanonicalUsage?, estimatedInputTokens: Int, estimatedOutputTokens: Int) {
        guard let reported, reported.input > 0 || reported.output > 0 else {
            self.init(inputTokens: estimatedInputTokens, outputTokens: estimatedOutputTokens, isEstimated: true)
            return
        }
        let input = max(0, reported.input)
        let output = max(0, reported.output)
        self.init(
            inputTokens: input, outputTokens: output, cachedInputTokens: min(max(0, reported.cacheRead), input),
            cacheWriteInputTokens: max(0, reported.cacheWrite), reasoningTokens: min(max(0, reported.reasoning), output))
    }
}
