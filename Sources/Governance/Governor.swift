import SwitchyardCore
import Synchronization

/// The governance stage of the pipeline: kill switches, policies, rate limits and budgets, in that order, and
/// the audit entries and alerts they produce. One per gateway, shared by all requests.
///
/// The rules in force (tenants, policies, limits, budgets) are live state: `reconfigure` replaces
/// them as a whole, and each request reads one consistent set of them.
public final class Governor: Sendable {
    /// One consistent set of rules; counters carry over from the set it replaces.
    struct Rules: Sendable {
        /// The live-state revision these rules came from (0: the configuration the governor was built with).
        var revision: Int64 = 0
        var tenants: [String: Tenant]
        var policies: PolicyBook
        var limiter: RateLimiter
        var runaway: RunawayGuard
        var budgets: BudgetKeeper
    }

    private let rules: Mutex<Rules>
    public let kills = KillSwitchBoard()
    public let audit: AuditTrail?
    /// Output tokens assumed when a request sets no maximum, for its worst-case cost and token charge.
    public let assumedOutputTokens: Int
    private let alert: @Sendable (BudgetEvent) -> Void
    private let killSwitchEngaged: @Sendable (KillSwitch) -> Void
    /// The agent runs this replica serves, for the policies' run rules. Kept across live
    /// governance changes: a run goes on under the new rules.
    public let runs = RunBook()
    /// Set when the fleet shares budgets and rate limits: they admit against this replica's leases.
    public let fleet: FleetLeases?

    /// `killSwitchEngaged` is told of each kill switch governance engages itself (runaway
    /// protection, run rules), to persist and announce it.
    public init(
        tenants: [Tenant] = [], policies: [Policy] = [], limits: [RateLimit] = [], budgets: [Budget] = [],
        audit: AuditTrail? = nil, assumedOutputTokens: Int = 4096,
        fleet: FleetLeases? = nil, alert: @escaping @Sendable (BudgetEvent) -> Void = { _ in },
        killSwitchEngaged: @escaping @Sendable (KillSwitch) -> Void = { _ in }
    ) {
        rules = Mutex(
            Rules(
                tenants: Self.byName(tenants), policies: PolicyBook(policies),
                limiter: RateLimiter(limits, shared: fleet != nil), runaway: RunawayGuard(limits, shared: fleet != nil),
                budgets: BudgetKeeper(budgets, shared: fleet != nil)))
        self.fleet = fleet
        self.killSwitchEngaged = killSwitchEngaged
        self.audit = audit
        self.assumedOutputTokens = assumedOutputTokens
        self.alert = alert
    }

    public var tenants: [String: Tenant] { rules.withLock { $0.tenants } }
    /// One tenant in force, without copying the whole table (this is on the request path).
    public func tenant(named name: String) -> Tenant? { rules.withLock { $0.tenants[name] } }
    public var policies: PolicyBook { rules.withLock { $0.policies } }
    public var limiter: RateLimiter { rules.withLock { $0.limiter } }
    public var budgets: BudgetKeeper { rules.withLock { $0.budgets } }
    var runaway: RunawayGuard { rules.withLock { $0.runaway } }

    public var revision: Int64 { rules.withLock { $0.revision } }

    /// Puts the rules of live-state `revision` in force, unless newer ones already are. Rate-limit
    /// buckets, hourly spend and budget accounts of scopes and budgets that stay carry over;
    /// returns the budgets that are new (their spend so far must be loaded from the ledger).
    @discardableResult
    public func reconfigure(
        revision: Int64, tenants: [Tenant], policies: [Policy], limits: [RateLimit], budgets: [Budget]
    ) -> [Budget] {
        rules.withLock { rules in
            guard revision > rules.revision else { return [] }
            let keeper = BudgetKeeper(budgets, carryingOver: rules.budgets, shared: fleet != nil)
            let added = keeper.budgetsNew(since: rules.budgets)
            rules = Rules(
                revision: revision, tenants: Self.byName(tenants), policies: PolicyBook(policies),
                limiter: RateLimiter(limits, carryingOver: rules.limiter, shared: fleet != nil),
                runaway: RunawayGuard(limits, carryingOver: rules.runaway, shared: fleet != nil), budgets: keeper)
            return added
        }
    }

    static func byName(_ tenants: [Tenant]) -> [String: Tenant] {
        Dictionary(tenants.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
    }

    /// The policy rules judged before routing; a refusal is audited. `policy` is the principal's
    /// combined policy when the caller already has it (the guardrails computed it).
    public func check(
        _ facts: RequestFacts, for principal: Principal, run: GovernanceScope? = nil, policy: EffectivePolicy? = nil
    ) -> Result<EffectivePolicy, GovernanceRefusal> {
        if let kill = kills.stopping(principal, run: run) { return .failure(.killed(kill)) }
        let policy = policy ?? policies.effective(for: principal)
        if let refusal = policy.refusal(for: facts) {
            return .failure(refuse(.policy(refusal), principal: principal, route: facts.route))
        }
        return .success(policy)
    }

    /// Judges a request of an agent run by its policies' run rules (`max_run_*`, `on_loop`):
    /// `loop` when it makes the run loop (the run is flagged, stopped or not). A run that must
    /// stop is stopped by the kill switch on its `run:` scope, engaged here and persisted, and
    /// the request is refused by it. Called after `check`, which refuses a run already stopped.
    public func admitRun(
        _ run: GovernanceScope, fingerprint: UInt64?, policy: EffectivePolicy, principal: Principal, route: String
    ) -> (loop: Bool, refusal: GovernanceRefusal?) {
        switch runs.admit(run, fingerprint: fingerprint, rules: RunBook.Rules(policy)) {
        case .admitted(let loop): return (loop, nil)
        case .stop(let reason, let loop):
            return (loop, refuse(.killed(stop(run, reason: reason)), principal: principal, route: route))
        }
    }

    /// Adds a settled request's cost (and, if `answered`, its prompt) to its run, and stops the
    /// run when that reached its `max_run_cost`: its streams in flight end at their next piece.
    public func settleRun(_ run: GovernanceScope, cost: Money, fingerprint: UInt64?, answered: Bool) {
        guard let reason = runs.record(run, cost: cost, fingerprint: fingerprint, answered: answered),
            kills.stoppingScope(run) == nil
        else { return }
        _ = stop(run, reason: reason)
    }

    private func stop(_ run: GovernanceScope, reason: String) -> KillSwitch {
        let kill = KillSwitch(scope: run, reason: "run rules: \(reason)", engagedBy: "switchyard", authority: .admin)
        kills.engage(kill)
        killSwitchEngaged(kill)
        return kills.stoppingScope(run) ?? kill
    }

    /// Admits a routed request: its worst-case cost against the policy, then the rate limits of
    /// every scope, then a reservation in every budget. Nothing is held when it is refused. Only
    /// a shared budget whose lease here is short makes it wait (for one step on the fleet's store).
    public func admit(
        _ facts: RequestFacts, policy: EffectivePolicy, maximumCost: Money, for principal: Principal
    ) async -> Result<Admission, GovernanceRefusal> {
        if let refusal = policy.costRefusal(maximum: maximumCost) {
            return .failure(refuse(.policy(refusal), principal: principal, route: facts.route))
        }
        let scopes = principal.scopes
        let (limiter, budgets) = rules.withLock { ($0.limiter, $0.budgets) }
        let (sum, overflow) = facts.estimatedInputTokens.addingReportingOverflow(
            facts.outputTokens(assuming: assumedOutputTokens))
        let tokens = overflow ? Int.max / 2 : sum
        var leaseSteps = 0
        while true {
            // After a lease step, the limiter of the moment: the step may have outlasted a live
            // governance change. The first try uses the one read above (no second lock).
            switch (leaseSteps == 0 ? limiter : self.limiter).attempt(scopes, estimatedTokens: tokens) {
            case .admitted(let ticket):
                return await reserve(
                    maximumCost, in: budgets, scopes: scopes, ticket: ticket, principal: principal, route: facts.route)
            case .refused(let refusal): return .failure(.rateLimited(refusal))
            case .short(let needs):
                // Two steps at most: the fleet had no more, or others took it meanwhile.
                guard let fleet, leaseSteps < 2 else { return .failure(.rateLimited(needs[0].refusal)) }
                leaseSteps += 1
                await fleet.lease(needs, for: self)
            }
        }
    }

    /// The budget half of `admit`: a reservation in every budget of `scopes`, or the ticket back.
    private func reserve(
        _ maximumCost: Money, in budgets: BudgetKeeper, scopes: [GovernanceScope], ticket: RateLimitTicket,
        principal: Principal, route: String
    ) async -> Result<Admission, GovernanceRefusal> {
        var leaseSteps = 0
        while true {
            switch (leaseSteps == 0 ? budgets : self.budgets).attempt(scopes, maximum: maximumCost) {
            case .reserved(let reservation):
                var admission = Admission(ticket: ticket, reservation: reservation, spendHeld: nil)
                // Under a `spend_per_hour` that cuts, the worst case is held in the rolling hour
                // from the start, as a budget reserves it: what the hour cannot fit is refused
                // before the upstream is called (its input would be billed even if cut at once).
                if runaway.cuts(principal) {
                    var held: Int64 = 0
                    let currency = maximumCost.currency
                    if let refusal = runaway.extend(&held, to: maximumCost.nanos, currency: currency, for: principal) {
                        _ = self.budgets.settle(reservation, actual: Money(nanos: 0, currency: currency))
                        self.limiter.release(ticket, usedTokens: 0)
                        return .failure(refuse(.budget(refusal), principal: principal, route: route))
                    }
                    admission.spendHeld = held
                }
                return .success(admission)
            case .refused(let refusal):
                // The limiter of the moment, as `release` does: a live change carried the ticket's count over.
                self.limiter.release(ticket, usedTokens: 0)
                return .failure(refuse(.budget(refusal), principal: principal, route: route))
            case .short(let needs):
                guard let fleet, leaseSteps < 2 else {
                    self.limiter.release(ticket, usedTokens: 0)
                    return .failure(refuse(.budget(needs[0].refusal), principal: principal, route: route))
                }
                leaseSteps += 1
                await fleet.lease(needs, for: self)
            }
        }
    }

    /// A stream's running cost (`cost`) outgrew what its budgets that cut (`on_exceed: cut`) cover:
    /// they cover it with a quarter more (so the next pieces need not ask), or just the cost when
    /// that is all the room left, from this replica's lease if shared (two lease steps at most);
    /// or the refusal that ends the stream, audited.
    public func cover(
        _ admission: inout Admission, cost: Money, principal: Principal, route: String
    ) async -> BudgetRefusal? {
        var refusal: BudgetRefusal?
        if cost.nanos > admission.reservation.covered {
            for total in [cost.nanos.addingClamped(cost.nanos / 4), cost.nanos] {
                refusal = await extend(&admission, to: total)
                if refusal == nil { break }
            }
        }
        if refusal == nil, var held = admission.spendHeld, cost.nanos > held {
            // The same headroom rule for the rolling hours of `spend_per_hour` limits that cut.
            for total in [cost.nanos.addingClamped(cost.nanos / 4), cost.nanos] {
                refusal = runaway.extend(&held, to: total, currency: cost.currency, for: principal)
                if refusal == nil { break }
            }
            admission.spendHeld = held
        }
        if let refusal { _ = refuse(.budget(refusal), principal: principal, route: route) }
        return refusal
    }

    private func extend(_ admission: inout Admission, to total: Int64) async -> BudgetRefusal? {
        var leaseSteps = 0
        while true {
            switch budgets.extend(&admission.reservation, to: total) {
            case .covered: return nil
            case .refused(let refusal): return refusal
            case .short(let needs):
                guard let fleet, leaseSteps < 2 else { return needs[0].refusal }
                leaseSteps += 1
                await fleet.lease(needs, for: self)
            }
        }
    }

    /// Ends an admitted request with what it used and cost; budget crossings are audited and alerted.
    public func release(_ admission: Admission, principal: Principal, usage: TokenUsage, cost: Money) {
        let (limiter, runaway, budgets) = rules.withLock { ($0.limiter, $0.runaway, $0.budgets) }
        limiter.release(admission.ticket, usedTokens: usage.inputTokens + usage.outputTokens)
        let released = admission.spendHeld ?? 0
        for (scope, spent, limit) in runaway.record(cost, for: principal, releasing: released)
        where kills.stopping(principal)?.scope != scope {
            let kill = KillSwitch(
                scope: scope,
                reason:
                    "runaway protection: spent \(spent.decimalString) \(spent.currency) in the last hour, more than the \(limit.decimalString) allowed",
                engagedBy: "switchyard", authority: .admin)
            kills.engage(kill)
            killSwitchEngaged(kill)
        }
        for event in budgets.settle(admission.reservation, actual: cost) {
            audit?.record(
                AuditEntry(
                    principal: "switchyard", action: event.kind, target: "budget:\(event.budget.name)",
                    tenant: event.budget.scope.tenant, detail: event.summary))
            alert(event)
        }
    }

    /// Audits what content guardrails found in a request (counts only, never the content).
    public func recordGuardrailHits(_ summary: String, action: GuardrailAction, policy: String, principal: Principal) {
        audit?.record(
            AuditEntry(
                principal: "key:\(principal.keyID)", action: "guardrail.\(action.rawValue)", target: "policy:\(policy)",
                tenant: principal.tenant, detail: summary))
    }

    /// Audits a refusal decided elsewhere (residency by policy, judged while routing).
    public func recordRefusal(_ message: String, policy: String, principal: Principal, route: String) {
        audit?.record(
            AuditEntry(
                principal: "key:\(principal.keyID)", action: "policy.refuse", target: "policy:\(policy)",
                tenant: principal.tenant, detail: "model \(route): \(message)"))
    }

    private func refuse(_ refusal: GovernanceRefusal, principal: Principal, route: String) -> GovernanceRefusal {
        let target: String
        switch refusal {
        case .policy(let policy): target = "policy:\(policy.policy)"
        case .budget(let budget): target = "budget:\(budget.budget.name)"
        case .rateLimited(let limit): target = "limit:\(limit.scope)"
        case .killed(let kill): target = kill.scope.description
        }
        audit?.record(
            AuditEntry(
                principal: "key:\(principal.keyID)", action: refusal.auditAction, target: target, tenant: principal.tenant,
                detail: "model \(route): \(refusal.message)"))
        return refusal
    }
}

/// What an admitted request holds until it ends.
public struct Admission: Sendable {
    public var ticket: RateLimitTicket
    public var reservation: BudgetReservation
    /// Under a `spend_per_hour` that cuts: the stream's running cost held in its rolling hours
    /// (nil: no such limit watches it).
    public var spendHeld: Int64?

    /// The running cost a stream may reach before `Governor.cover` must be asked again.
    public var covered: Int64 { min(reservation.covered, spendHeld ?? .max) }

    public var rateLimitStatus: RateLimitStatus? { ticket.status }
}

/// Why governance refused a request.
public enum GovernanceRefusal: Error, Sendable {
    case policy(PolicyRefusal)
    case rateLimited(RateLimitRefusal)
    case budget(BudgetRefusal)
    case killed(KillSwitch)

    public var message: String {
        switch self {
        case .policy(let refusal): refusal.message
        case .rateLimited(let refusal): refusal.message
        case .budget(let refusal): refusal.message
        case .killed(let kill): KillSwitchBoard.message(kill)
        }
    }

    var auditAction: String {
        switch self {
        case .policy: "policy.refuse"
        case .rateLimited: "limit.refuse"
        case .budget: "budget.refuse"
        case .killed: "kill_switch.refuse"
        }
    }
}
