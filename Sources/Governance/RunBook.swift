import SwitchyardCore
import Synchronization

/// The agent runs this replica serves, kept to judge their policies' run rules: how long each
/// has gone on, how many requests it sent, what it cost, and its last prompts (to see it loop).
///
/// A run's figures are this replica's own, plus the other replicas' share as of the last
/// `apply` (`RunShareSync` reads it from the ledger every second): the rules count the whole
/// fleet's requests, a few seconds late for the others'. A run stopped here is stopped
/// everywhere, by the kill switch on its `run:` scope. At most `capacity` runs are kept, and `perTenant` of
/// one tenant (so a tenant that names a new run with every request forgets only its own): past
/// either, the runs idle longest are forgotten (a forgotten run starts again from nothing).
public final class RunBook: Sendable {
    /// The run rules of a request's combined policies, with their defaults.
    public struct Rules: Sendable {
        public var maxCost: EffectivePolicy.Sourced<Money>?
        public var maxRequests: EffectivePolicy.Sourced<Int>?
        public var maxDuration: EffectivePolicy.Sourced<Duration>?
        public var onLoop: LoopAction
        /// The policy that set `onLoop`, if one did.
        public var onLoopPolicy: String?
        public var loopRepeats: Int
        public var loopWindow: Duration

        public static let defaultLoopRepeats = 5
        public static let defaultLoopWindow = Duration.seconds(600)

        public init(_ policy: EffectivePolicy) {
            maxCost = policy.maxRunCost
            maxRequests = policy.maxRunRequests
            maxDuration = policy.maxRunDuration
            onLoop = policy.onLoop?.value ?? .flag
            onLoopPolicy = policy.onLoop?.policy
            loopRepeats = min(policy.loopRepeats?.value ?? Self.defaultLoopRepeats, RunState.promptsKept)
            loopWindow = policy.loopWindow?.value ?? Self.defaultLoopWindow
        }
    }

    /// The judgement on one request of a run.
    public enum Verdict: Equatable, Sendable {
        /// It may go on; `loop`: it repeats a prompt often enough that the run is flagged as looping.
        case admitted(loop: Bool)
        /// The run must stop: the reason names the rule and its policy; `loop` when looping is why.
        case stop(reason: String, loop: Bool)
    }

    struct RunState {
        static let promptsKept = 64

        var firstSeen: UnixMicros
        var lastSeen: UnixMicros
        var requests = 0
        /// Spent here, per currency.
        var costs: [String: Int64] = [:]
        /// The other replicas' share, as the ledger last told it.
        var others = RunShare()

        /// Requests admitted anywhere in the fleet.
        var fleetRequests: Int { requests + Int(clamping: others.requests) }

        /// Spent anywhere in the fleet, in `currency`.
        func fleetCost(in currency: String) -> Int64 {
            others.costs.reduce(costs[currency] ?? 0) { $1.currency == currency ? $0.addingClamped($1.nanos) : $0 }
        }

        /// When the run began anywhere in the fleet.
        var fleetStart: UnixMicros { min(firstSeen, others.startedAt ?? firstSeen) }
        /// The cost rule the run was last admitted under, which `record` judges against.
        var maxCost: EffectivePolicy.Sourced<Money>?
        /// The last prompts' fingerprints and times, a ring of `promptsKept`.
        var prompts: [(fingerprint: UInt64, at: UnixMicros)] = []
        var nextPrompt = 0

        init(at time: UnixMicros) {
            firstSeen = time
            lastSeen = time
        }

        /// How many of the kept prompts within `window` before `time` have `fingerprint`.
        func repeats(of fingerprint: UInt64, within window: Duration, before time: UnixMicros) -> Int {
            let since = time.value - window.microseconds
            return prompts.reduce(0) { $0 + ($1.fingerprint == fingerprint && $1.at.value >= since ? 1 : 0) }
        }

        mutating func remember(_ fingerprint: UInt64, at time: UnixMicros) {
            if prompts.count < Self.promptsKept {
                prompts.append((fingerprint, time))
            } else {
                prompts[nextPrompt] = (fingerprint, time)
            }
            nextPrompt = (nextPrompt + 1) % Self.promptsKept
        }
    }

    struct Book {
        var runs: [GovernanceScope: RunState] = [:]
        var perTenant: [String: Int] = [:]

        mutating func forgetIdlest(_ count: Int, of tenant: String?) {
            let candidates = runs.filter { tenant == nil || $0.key.tenant == tenant }
            let idlest = candidates.sorted { $0.value.lastSeen.value < $1.value.lastSeen.value }.prefix(count)
            for (scope, _) in idlest {
                runs[scope] = nil
                if let owner = scope.tenant { perTenant[owner, default: 1] -= 1 }
            }
        }
    }

    private let book = Mutex(Book())
    public let capacity: Int
    public let perTenant: Int

    /// A run holds at most 64 prompts of 16 bytes: about 1.2 KB, so the default is about 24 MB at worst.
    public init(capacity: Int = 20_000, perTenant: Int = 5_000) {
        self.capacity = max(1, capacity)
        self.perTenant = max(1, min(perTenant, capacity))
    }

    /// Judges a request of `run` (a `run:` scope) against `rules`, in order: the run's duration,
    /// its requests, its cost so far, then whether `fingerprint` (its prompt) makes it loop: the
    /// prompts of the run's answered requests (`record`) within the window, and this one. An
    /// admitted request is counted; a stopped one is not.
    public func admit(
        _ run: GovernanceScope, fingerprint: UInt64?, rules: Rules, at time: UnixMicros = .now()
    ) -> Verdict {
        book.withLock { book in
            if book.runs[run] == nil {
                let tenant = run.tenant ?? ""
                // A tenant's own runs first, then everyone's; a tenth at a time, so the sort is rare.
                if book.perTenant[tenant, default: 0] >= perTenant {
                    book.forgetIdlest(max(1, perTenant / 10), of: tenant)
                } else if book.runs.count >= capacity {
                    book.forgetIdlest(max(1, capacity / 10), of: nil)
                }
                book.perTenant[tenant, default: 0] += 1
            }
            var state = book.runs[run] ?? RunState(at: time)
            defer { book.runs[run] = state }
            state.lastSeen = max(state.lastSeen, time)
            state.maxCost = rules.maxCost
            if let limit = rules.maxDuration, time.value - state.fleetStart.value >= limit.value.microseconds {
                return .stop(
                    reason: "the run has gone on longer than the \(Self.text(limit.value)) allowed "
                        + "(max_run_duration_seconds of policy '\(limit.policy)')", loop: false)
            }
            if let limit = rules.maxRequests, state.fleetRequests >= limit.value {
                return .stop(
                    reason: "the run has sent the \(limit.value) requests allowed (max_run_requests of policy '\(limit.policy)')",
                    loop: false)
            }
            if let limit = rules.maxCost, state.fleetCost(in: limit.value.currency) >= limit.value.nanos {
                return .stop(reason: Self.costReason(state.fleetCost(in: limit.value.currency), limit), loop: false)
            }
            var loop = false
            if let fingerprint {
                loop = state.repeats(of: fingerprint, within: rules.loopWindow, before: time) + 1 >= rules.loopRepeats
                if loop, rules.onLoop == .stop {
                    return .stop(
                        reason: "the run is looping: the same prompt \(rules.loopRepeats) times within "
                            + "\(Self.text(rules.loopWindow)) (on_loop: stop of policy '\(rules.onLoopPolicy ?? "")')",
                        loop: true)
                }
            }
            state.requests += 1
            return .admitted(loop: loop)
        }
    }

    /// Adds a settled request's cost to its run, and its prompt's `fingerprint` to the run's
    /// recent prompts if it was `answered` (a refusal or a failure the client's SDK retries is not
    /// a repeat); the reason to stop the run when the cost reached the run's `max_run_cost` (its
    /// requests in flight are then ended by the kill switch).
    public func record(
        _ run: GovernanceScope, cost: Money, fingerprint: UInt64? = nil, answered: Bool = true, at time: UnixMicros = .now()
    ) -> String? {
        book.withLock { book in
            guard var state = book.runs[run] else { return nil }
            if answered, let fingerprint { state.remember(fingerprint, at: time) }
            if cost.nanos > 0 {
                state.costs[cost.currency, default: 0] = state.costs[cost.currency, default: 0].addingClamped(cost.nanos)
            }
            book.runs[run] = state
            guard let limit = state.maxCost else { return nil }
            let total = state.fleetCost(in: limit.value.currency)
            return total >= limit.value.nanos ? Self.costReason(total, limit) : nil
        }
    }

    /// The runs seen here since `time`, most recent first, at most `limit`: those whose other
    /// replicas' share is worth reading.
    public func active(since time: UnixMicros, limit: Int = 1_000) -> [GovernanceScope] {
        // Copied under the lock, sorted outside it: requests do not wait for the sort.
        let recent = book.withLock { book in
            book.runs.compactMap { $0.value.lastSeen >= time ? ($0.key, $0.value.lastSeen.value) : nil }
        }
        return recent.sorted { $0.1 > $1.1 }.prefix(limit).map(\.0)
    }

    /// Takes the other replicas' share of each run read (a run absent from `shares` has none yet).
    public func apply(_ shares: [GovernanceScope: RunShare], read runs: [GovernanceScope]) {
        book.withLock { book in
            for run in runs { book.runs[run]?.others = shares[run] ?? RunShare() }
        }
    }

    /// What this replica knows of a run: requests admitted and cost settled here, per currency.
    public func snapshot(_ run: GovernanceScope) -> (requests: Int, costs: [String: Int64])? {
        book.withLock { book in book.runs[run].map { ($0.requests, $0.costs) } }
    }

    public var count: Int { book.withLock { $0.runs.count } }

    private static func costReason(_ nanos: Int64, _ limit: EffectivePolicy.Sourced<Money>) -> String {
        let cost = Money(nanos: nanos, currency: limit.value.currency)
        return "the run has cost \(cost.decimalString) \(cost.currency), reaching the \(limit.value.decimalString) allowed "
            + "(max_run_cost of policy '\(limit.policy)')"
    }

    static func text(_ duration: Duration) -> String {
        let seconds = duration.components.seconds
        if seconds % 3600 == 0 { return "\(seconds / 3600) h" }
        if seconds % 60 == 0 { return "\(seconds / 60) min" }
        return "\(seconds) s"
    }
}
