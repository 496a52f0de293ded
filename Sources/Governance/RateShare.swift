import SwitchyardCore

/// This replica's part of a rate limit shared by the fleet: requests and tokens leased from the
/// shared buckets (which refill in the store, not here) and how fast this replica uses them.
struct RateShare: Sendable {
    /// The shared buckets' levels after the last step, for the `x-ratelimit-remaining-*` headers.
    var fleetRequests: Double = 0
    var fleetTokens: Double = 0
    var liveReplicas = 1
    var contacted = false
    /// The store cannot be reached: the local buckets refill at this replica's share of the rate.
    var fallback = false
    var lastStep: ContinuousClock.Instant?
    /// The last step that needed requests or tokens got none: refuse here until then.
    var dryUntil: ContinuousClock.Instant?
    var lastActivity: ContinuousClock.Instant?
    /// Use since the last sample and its smoothed rate per second, for sizing slices.
    var windowRequests: Double = 0
    var windowTokens: Double = 0
    var requestsPerSecond: Double = 0
    var tokensPerSecond: Double = 0
    var sampledAt: ContinuousClock.Instant?
    /// The largest token charge lately: a token slice covers two of them.
    var largestTokens: Double = 0

    func isDry(at now: ContinuousClock.Instant) -> Bool { dryUntil.map { now < $0 } ?? false }

    mutating func sample(now: ContinuousClock.Instant) {
        guard let sampledAt else {
            self.sampledAt = now
            return
        }
        let elapsed = (now - sampledAt).secondsValue
        guard elapsed >= 0.1 else { return }
        // Up at once (a ramp must not make requests wait for lease steps), down smoothed.
        requestsPerSecond = max(windowRequests / elapsed, requestsPerSecond * 0.7 + windowRequests / elapsed * 0.3)
        tokensPerSecond = max(windowTokens / elapsed, tokensPerSecond * 0.7 + windowTokens / elapsed * 0.3)
        windowRequests = 0
        windowTokens = 0
        self.sampledAt = now
    }

    /// A second of this replica's use, at least two requests' worth, at most a twentieth of the
    /// minute's limit (so one replica never sits on much of what the others could use).
    func requestSlice(limit: Int) -> Double {
        min(max(requestsPerSecond, 2), max(1, Double(limit) / 20)).rounded(.up)
    }

    func tokenSlice(limit: Int) -> Double {
        min(max(tokensPerSecond, largestTokens * 2), max(largestTokens, Double(limit) / 20)).rounded(.up)
    }
}
