import Providers
import Routing
import SwitchyardCore
import WireFormats

extension UpstreamExecutor {
    private enum HedgeEvent: Sendable {
        case finished(index: Int, AttemptResult)
        case timer
    }

    /// Non-streaming requests on routes with `hedge`: the first candidate is tried; if it has not
    /// answered within its p95 (or the fixed delay), the next candidate is tried too, and the first
    /// good answer wins while the other attempt is cancelled. An attempt that fails before the
    /// delay starts the next candidate at once, as a fallback would.
    func executeHedged(
        _ plan: RoutePlan, hedge: HedgePolicy, context: inout RequestContext,
        call: @escaping @Sendable (Deployment) -> UpstreamCall
    ) async throws(OpenAIError) -> UpstreamSuccess {
        var remaining = plan.candidates[...]
        var unavailable: [String: DeploymentMonitor.Unavailability] = [:]
        var lastError: OpenAIError?
        var winner: UpstreamSuccess?
        let requestID = context.id
        let trace = context.trace
        let passThrough = context.upstreamTraceHeaders

        /// Claims the next candidate that can take a request.
        func nextCandidate() async -> (Deployment, ProviderAdapter, DeploymentMonitor.Lease)? {
            while let deployment = remaining.popFirst() {
                var claimed = claim(deployment)
                if case .unavailable(.atCapacity) = claimed, await monitor.leaseSlot(deployment.name) {
                    claimed = claim(deployment)
                }
                switch claimed {
                case .claimed(let adapter, let lease): return (deployment, adapter, lease)
                case .missingKey(let error): lastError = error
                case .unavailable(let reason): unavailable[deployment.name] = reason
                }
            }
            return nil
        }

        guard let primary = await nextCandidate() else {
            throw lastError ?? OpenAIError.unavailable(plan.route, unavailable)
        }
        context.use(primary.0)
        let delay: Duration =
            switch hedge.delay {
            case .fixed(let fixed): fixed
            case .p95(let fallback): monitor.snapshot(primary.0.name)?.p95Latency ?? fallback
            }
        let primaryCall = call(primary.0)
        let budget = retryBudget(for: plan.route)
        var attempts: [Attempt] = []
        await withTaskGroup(of: HedgeEvent.self) { group in
            var running = 1
            var started = 1
            group.addTask {
                .finished(
                    index: 0,
                    await self.attempt(
                        primary.0, adapter: primary.1, lease: primary.2, call: primaryCall, streaming: false,
                        requestID: requestID, trace: trace, passThrough: passThrough))
            }
            group.addTask {
                try? await cancellableSleep(for: delay)
                return .timer
            }
            func startNext(hedged: Bool) async {
                guard started < plan.route.retry.maxAttempts, let (deployment, adapter, lease) = await nextCandidate() else {
                    return
                }
                // Hedges and fallbacks are extra load on the route: they spend its retry budget.
                guard budget.tryWithdraw() else {
                    monitor.release(lease, outcome: .neutral)
                    return
                }
                let payload = call(deployment)
                let index = started
                started += 1
                running += 1
                group.addTask {
                    .finished(
                        index: index,
                        await self.attempt(
                            deployment, adapter: adapter, lease: lease, call: payload, streaming: false,
                            requestID: requestID, hedged: hedged, trace: trace, number: index + 1,
                            passThrough: passThrough))
                }
            }
            while let event = await group.next() {
                switch event {
                case .timer:
                    if winner == nil && running > 0 { await startNext(hedged: true) }
                case .finished(_, .success(let success, let attempt)):
                    running -= 1
                    if winner == nil {
                        winner = success
                        attempts.append(attempt)
                        group.cancelAll()
                    } else {
                        // Both answered: keep the first, the late one is a lost hedge.
                        var lost = attempt
                        lost.errorClass = .hedgeLost
                        attempts.append(lost)
                    }
                case .finished(_, .failure(let error, let retryable, _, let attempt)):
                    running -= 1
                    var recorded = attempt
                    if winner != nil && attempt.errorClass == .clientCancelled { recorded.errorClass = .hedgeLost }
                    attempts.append(recorded)
                    if winner == nil {
                        lastError = error
                        if retryable && running == 0 { await startNext(hedged: false) }
                    }
                }
                if winner != nil && running == 0 { group.cancelAll() }
            }
        }
        context.attempts += attempts
        if let winner {
            context.use(winner.deployment)
            return winner
        }
        throw lastError ?? OpenAIError.unavailable(plan.route, unavailable)
    }
}
