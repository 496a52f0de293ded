import SwitchyardCore
import Synchronization

/// Requests-per-minute, tokens-per-minute and concurrency limits for every scope at once.
///
/// Rates are token buckets holding a minute's allowance and refilling continuously, so a burst of
/// up to the whole minute's limit is allowed and then the steady rate. A request is checked against
/// every limited scope it acts in under one lock, and counted in all of them only if all admit it.
///
/// Shared by a fleet (`shared`), the requests and tokens per minute live in buckets on the shared
/// store; the local buckets hold only what this replica leased from them (`RateShare`), and do
/// not refill by themselves. A concurrency limit is a pool of slots on the store, of which this
/// replica uses those it leased (`FleetSlotAccount`).
public final class RateLimiter: Sendable {
    /// The state of one limited scope.
    struct Bucket {
        var limit: RateLimit
        var requests: Double
        var tokens: Double
        var inFlight = 0
        var refilledAt: ContinuousClock.Instant
        var share: RateShare?
        /// Shared `concurrent_requests`: this replica's lease of the fleet's slots.
        var slots: FleetSlotAccount?

        init(_ limit: RateLimit, now: ContinuousClock.Instant, shared: Bool = false) {
            self.limit = limit
            let sharedRates = shared && (limit.requestsPerMinute != nil || limit.tokensPerMinute != nil)
            self.requests = sharedRates ? 0 : Double(limit.requestsPerMinute ?? 0)
            self.tokens = sharedRates ? 0 : Double(limit.tokensPerMinute ?? 0)
            self.refilledAt = now
            self.share = sharedRates ? RateShare() : nil
            self.slots = shared ? limit.concurrentRequests.map { FleetSlotAccount(limit: $0) } : nil
        }

        mutating func refill(_ now: ContinuousClock.Instant) {
            let minutes = (now - refilledAt).secondsValue / 60
            guard minutes > 0 else { return }
            // Shared: the store refills; out of its reach, this replica's share of the rate.
            var part = 1.0
            if let share {
                guard share.fallback else {
                    refilledAt = now
                    return
                }
                // Never in contact: the number of replicas is unknown, so none of the rate is ours.
                part = share.contacted ? 1 / Double(share.liveReplicas) : 0
            }
            if let rpm = limit.requestsPerMinute {
                requests = min(Double(rpm) * part, requests + minutes * Double(rpm) * part)
            }
            if let tpm = limit.tokensPerMinute {
                tokens = min(Double(tpm) * part, tokens + minutes * Double(tpm) * part)
            }
            refilledAt = now
        }

        /// Seconds until `needed` is back in a bucket refilling `perMinute`.
        static func wait(for needed: Double, have: Double, perMinute: Int) -> Double {
            max(0, (needed - have) / Double(perMinute) * 60)
        }
    }

    let buckets: Mutex<[Bucket]>
    /// Each limited scope's place in `buckets`. Fixed at init, so read without the lock, and a
    /// scope is hashed once per request instead of at every step of a check.
    let slots: [GovernanceScope: Int]
    /// Some limit here is a shared concurrency limit: the background looks at its steps every tick.
    let hasSharedConcurrency: Bool

    /// With `previous`, a scope limited before keeps its bucket levels (capped to the new limits)
    /// and its requests in flight: a live governance change does not hand out a fresh minute.
    public init(
        _ limits: [RateLimit], carryingOver previous: RateLimiter? = nil, shared: Bool = false,
        now: ContinuousClock.Instant = .now
    ) {
        let kept = previous?.bucketsByScope() ?? [:]
        var buckets: [Bucket] = []
        var slots: [GovernanceScope: Int] = [:]
        for limit in limits {
            var bucket = Bucket(limit, now: now, shared: shared)
            if let old = kept[limit.scope] {
                bucket.inFlight = old.inFlight
                if let oldSlots = old.slots, oldSlots.limit == bucket.slots?.limit { bucket.slots = oldSlots }
                if bucket.share != nil { bucket.share = old.share ?? bucket.share }
                if let rpm = limit.requestsPerMinute, old.limit.requestsPerMinute != nil {
                    bucket.requests = min(Double(rpm), old.requests)
                }
                if let tpm = limit.tokensPerMinute, old.limit.tokensPerMinute != nil {
                    bucket.tokens = min(Double(tpm), old.tokens)
                }
                bucket.refilledAt = old.refilledAt
            }
            // A scope limited twice: the later limit wins, as it did when buckets were keyed by scope.
            if let slot = slots[limit.scope] {
                buckets[slot] = bucket
            } else {
                slots[limit.scope] = buckets.count
                buckets.append(bucket)
            }
        }
        self.buckets = Mutex(buckets)
        self.slots = slots
        self.hasSharedConcurrency = buckets.contains { $0.slots != nil }
    }

    private func bucketsByScope() -> [GovernanceScope: Bucket] {
        let buckets = self.buckets.withLock { $0 }
        return slots.mapValues { buckets[$0] }
    }

    /// Admits a request of about `estimatedTokens` for `scopes`, or says which limit refused it. A
    /// shared limit whose lease is short refuses here; `attempt` says so instead, to lease and retry.
    public func admit(
        _ scopes: [GovernanceScope], estimatedTokens: Int, now: ContinuousClock.Instant = .now
    ) -> Result<RateLimitTicket, RateLimitRefusal> {
        switch attempt(scopes, estimatedTokens: estimatedTokens, now: now) {
        case .admitted(let ticket): .success(ticket)
        case .refused(let refusal): .failure(refusal)
        case .short(let needs): .failure(needs[0].refusal)
        }
    }

    /// Admits a request of about `estimatedTokens` in every limited scope of `scopes`, or none.
    public func attempt(
        _ scopes: [GovernanceScope], estimatedTokens: Int, now: ContinuousClock.Instant = .now
    ) -> RateAttempt {
        guard !slots.isEmpty else { return .admitted(RateLimitTicket(scopes: [], tokens: 0, status: nil)) }
        var limitedScopes: [GovernanceScope] = []
        var limitedSlots: [Int] = []
        for scope in scopes {
            guard let slot = slots[scope] else { continue }
            limitedScopes.append(scope)
            limitedSlots.append(slot)
        }
        guard !limitedSlots.isEmpty else { return .admitted(RateLimitTicket(scopes: [], tokens: 0, status: nil)) }
        let tokens = Double(max(0, estimatedTokens))
        return buckets.withLock { buckets in
            var needs: [RateLeaseNeed] = []
            for (scope, slot) in zip(limitedScopes, limitedSlots) {
                buckets[slot].refill(now)
                let bucket = buckets[slot]
                if let concurrent = bucket.limit.concurrentRequests, bucket.inFlight >= bucket.slots?.cap ?? concurrent {
                    let refusal = RateLimitRefusal(
                        scope: scope, rule: "concurrent_requests", limit: concurrent, retryAfterSeconds: 1,
                        status: Self.status(bucket))
                    // Shared: the fleet may have a free slot, unless the store is out of reach.
                    guard bucket.slots?.mayLease(at: now) == true else { return .refused(refusal) }
                    needs.append(RateLeaseNeed(scope: scope, requests: 0, tokens: 0, slots: 1, refusal: refusal))
                    continue
                }
                var refusal: RateLimitRefusal?
                if let rpm = bucket.limit.requestsPerMinute, bucket.requests < 1 {
                    refusal = RateLimitRefusal(
                        scope: scope, rule: "requests_per_minute", limit: rpm,
                        retryAfterSeconds: Bucket.wait(for: 1, have: bucket.requests, perMinute: rpm),
                        status: Self.status(bucket))
                } else if let tpm = bucket.limit.tokensPerMinute, bucket.tokens < min(tokens, Double(tpm)) {
                    // A request larger than a whole minute's allowance waits for a full bucket, not forever.
                    refusal = RateLimitRefusal(
                        scope: scope, rule: "tokens_per_minute", limit: tpm,
                        retryAfterSeconds: Bucket.wait(for: min(tokens, Double(tpm)), have: bucket.tokens, perMinute: tpm),
                        status: Self.status(bucket))
                }
                guard let refusal else { continue }
                // A shared limit may have room in the fleet's buckets, unless the store is out of reach.
                guard let share = bucket.share, !share.fallback, !share.isDry(at: now) else { return .refused(refusal) }
                let tokensNeeded = bucket.limit.tokensPerMinute.map { min(tokens, Double($0)) } ?? 0
                needs.append(
                    RateLeaseNeed(
                        scope: scope, requests: bucket.limit.requestsPerMinute == nil ? 0 : 1, tokens: tokensNeeded,
                        refusal: refusal))
            }
            guard needs.isEmpty else { return .short(needs) }
            var tightest: RateLimitStatus?
            for slot in limitedSlots {
                if buckets[slot].limit.requestsPerMinute != nil { buckets[slot].requests -= 1 }
                if buckets[slot].limit.tokensPerMinute != nil { buckets[slot].tokens -= tokens }
                buckets[slot].inFlight += 1
                if var share = buckets[slot].share {
                    share.windowRequests += 1
                    share.windowTokens += tokens
                    share.largestTokens = max(share.largestTokens, tokens)
                    share.lastActivity = now
                    buckets[slot].share = share
                }
                tightest = RateLimitStatus.tighter(tightest, Self.status(buckets[slot]))
            }
            return .admitted(RateLimitTicket(scopes: limitedScopes, tokens: tokens, status: tightest))
        }
    }

    /// Ends a request: frees its concurrency slot and corrects its token charge to what it used.
    public func release(_ ticket: RateLimitTicket, usedTokens: Int) {
        guard !ticket.scopes.isEmpty else { return }
        let correction = ticket.tokens - Double(usedTokens)
        // Admitted before a live change limited a scope: it was never counted here, so has no slot.
        let ticketSlots = ticket.scopes.compactMap { slots[$0] }
        guard !ticketSlots.isEmpty else { return }
        buckets.withLock { buckets in
            for slot in ticketSlots {
                buckets[slot].inFlight = max(0, buckets[slot].inFlight - 1)
                if let tpm = buckets[slot].limit.tokensPerMinute {
                    buckets[slot].tokens = min(Double(tpm), buckets[slot].tokens + correction)
                }
            }
        }
    }

    /// Requests in flight for a scope (for tests and metrics).
    public func inFlight(_ scope: GovernanceScope) -> Int {
        guard let slot = slots[scope] else { return 0 }
        return buckets.withLock { $0[slot].inFlight }
    }

    /// What is left: shared, the lease here and what the fleet's buckets held at the last step.
    static func status(_ bucket: Bucket) -> RateLimitStatus {
        let requests = bucket.requests + (bucket.share?.fleetRequests ?? 0)
        let tokens = bucket.tokens + (bucket.share?.fleetTokens ?? 0)
        return RateLimitStatus(
            requests: bucket.limit.requestsPerMinute.map { rpm in
                .init(
                    limit: rpm, remaining: max(0, Int(requests.rounded(.down))),
                    resetSeconds: Bucket.wait(for: Double(rpm), have: requests, perMinute: rpm))
            },
            tokens: bucket.limit.tokensPerMinute.map { tpm in
                .init(
                    limit: tpm, remaining: max(0, Int(tokens.rounded(.down))),
                    resetSeconds: Bucket.wait(for: Double(tpm), have: tokens, perMinute: tpm))
            })
    }
}

/// What an admission attempt came to.
public enum RateAttempt: Sendable {
    case admitted(RateLimitTicket)
    case refused(RateLimitRefusal)
    /// Shared limits whose lease here is too small for the request: lease more, then try again.
    case short([RateLeaseNeed])
}

public struct RateLeaseNeed: Sendable {
    public var scope: GovernanceScope
    public var requests: Double
    public var tokens: Double
    /// Concurrency slots (0 or 1): asked for alone, before the rates are looked at again.
    public var slots = 0
    /// The answer if the fleet has no more either.
    public var refusal: RateLimitRefusal
}

/// The limits a request was admitted under, returned to `release` when it ends.
public struct RateLimitTicket: Sendable {
    public var scopes: [GovernanceScope]
    public var tokens: Double
    /// The tightest limits after admission, for the `x-ratelimit-*` headers.
    public var status: RateLimitStatus?
}

/// What the `x-ratelimit-*` headers say: the scope with the least room left, per kind.
public struct RateLimitStatus: Sendable, Equatable {
    public struct Window: Sendable, Equatable {
        public var limit: Int
        public var remaining: Int
        /// Seconds until the bucket is full again.
        public var resetSeconds: Double

        public init(limit: Int, remaining: Int, resetSeconds: Double) {
            self.limit = limit
            self.remaining = remaining
            self.resetSeconds = resetSeconds
        }

        /// `resetSeconds` in OpenAI's format: `250ms`, `1.5s`, `2m5s`.
        public var resetText: String { RateLimitStatus.format(resetSeconds) }
    }

    public var requests: Window?
    public var tokens: Window?

    public init(requests: Window?, tokens: Window?) {
        self.requests = requests
        self.tokens = tokens
    }

    static func tighter(_ current: RateLimitStatus?, _ next: RateLimitStatus) -> RateLimitStatus {
        guard let current else { return next }
        func pick(_ a: Window?, _ b: Window?) -> Window? {
            guard let a else { return b }
            guard let b else { return a }
            return b.remaining < a.remaining ? b : a
        }
        return RateLimitStatus(requests: pick(current.requests, next.requests), tokens: pick(current.tokens, next.tokens))
    }

    /// Header name and value pairs, in OpenAI's format (`x-ratelimit-reset-requests: 1.5s`).
    public var headers: [(String, String)] {
        var headers: [(String, String)] = []
        for (kind, window) in [("requests", requests), ("tokens", tokens)] {
            guard let window else { continue }
            let names = Self.headerNames(kind)
            headers += [(names.limit, String(window.limit)), (names.remaining, String(window.remaining))]
            headers.append((names.reset, window.resetText))
        }
        return headers
    }

    /// OpenAI's header names for a window: `kind` is "requests" or "tokens".
    public static func headerNames(_ kind: String) -> (limit: String, remaining: String, reset: String) {
        ("x-ratelimit-limit-\(kind)", "x-ratelimit-remaining-\(kind)", "x-ratelimit-reset-\(kind)")
    }

    static func format(_ seconds: Double) -> String {
        let milliseconds = Int((seconds * 1000).rounded(.up))
        if milliseconds < 1000 { return "\(milliseconds)ms" }
        let whole = milliseconds / 1000
        if whole < 60 {
            let tenths = (milliseconds % 1000 + 99) / 100
            return tenths == 0 ? "\(whole)s" : tenths == 10 ? "\(whole + 1)s" : "\(whole).\(tenths)s"
        }
        return "\(whole / 60)m\(whole % 60)s"
    }
}

/// A request refused by a limit: which scope and rule, and when to come back.
public struct RateLimitRefusal: Error, Sendable, Equatable {
    public var scope: GovernanceScope
    public var rule: String
    public var limit: Int
    public var retryAfterSeconds: Double
    public var status: RateLimitStatus

    /// Whole seconds for `Retry-After`, at least 1.
    public var retryAfter: Int { max(1, Int(retryAfterSeconds.rounded(.up))) }

    public var message: String {
        let what =
            switch rule {
            case "concurrent_requests": "\(limit) concurrent requests"
            case "requests_per_minute": "\(limit) requests per minute"
            default: "\(limit) tokens per minute"
            }
        return "Rate limit reached for \(scope): \(what) (rule \(rule)). Retry after \(retryAfter) s."
    }
}

extension Duration {
    var secondsValue: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}
