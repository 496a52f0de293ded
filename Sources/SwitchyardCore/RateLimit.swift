/// Request-rate, token-rate, concurrency and hourly-spend limits of one scope. Every scope a key
/// acts in is limited at once: a key's requests count against its agent, project and tenant too.
public struct RateLimit: Hashable, Sendable {
    public var scope: GovernanceScope
    public var requestsPerMinute: Int?
    /// Input plus output tokens. A request is charged its estimate (input + max output) when it
    /// is admitted and corrected to what it used when it ends.
    public var tokensPerMinute: Int?
    public var concurrentRequests: Int?
    /// Runaway protection: spend over any rolling hour above this engages the scope's kill switch.
    public var spendPerHour: Money?
    /// What a stream does when its running cost would take the rolling hour past `spendPerHour`.
    public var onExceed: Budget.Overrun

    public init(
        scope: GovernanceScope, requestsPerMinute: Int? = nil, tokensPerMinute: Int? = nil, concurrentRequests: Int? = nil,
        spendPerHour: Money? = nil, onExceed: Budget.Overrun = .finish
    ) {
        self.scope = scope
        self.requestsPerMinute = requestsPerMinute
        self.tokensPerMinute = tokensPerMinute
        self.concurrentRequests = concurrentRequests
        self.spendPerHour = spendPerHour
        self.onExceed = onExceed
    }
}
