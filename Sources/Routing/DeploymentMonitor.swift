import SwitchyardCore
import Synchronization

/// What the gateway knows about each deployment right now: its circuit breaker, requests in
/// flight, recent latency, and whether an active health check or a `Retry-After` holds it back.
///
/// One short lock per deployment; nothing here waits or does I/O. With `fleet`, a deployment's
/// `max_concurrency` is a number of slots for the whole fleet of replicas: this replica uses the
/// slots it leased (`FleetSlotAccount`), and `FleetSlots` steps the leases in the background.
public final class DeploymentMonitor: Sendable {
    let entries: [String: Entry]
    public let fleet: FleetSlots?
    /// Deployments whose slots the fleet shares (those with `max_concurrency`, given `fleet`).
    public let sharedDeployments: [String]
    private let outputTokens = Mutex<[String: Double]>([:])
    private let underUsedCommitments = Mutex<Set<String>>([])
    /// Each probed deployment's latest canary quality score (0...1), for `min_quality` and
    /// `quality-per-cost`.
    private let qualityScores = Mutex<[String: Double]>([:])
    /// Deployments an incident's mitigation shifted traffic away from (`shift_weight`); the count
    /// lets a request skip the lock when there are none, the usual case.
    private let demoted = Mutex<Set<String>>([])
    private let demotedCount = Atomic<Int>(0)

    final class Entry: Sendable {
        let deployment: Deployment
        let state: Mutex<DeploymentState>

        init(_ deployment: Deployment, shared: Bool) {
            self.deployment = deployment
            var state = DeploymentState(breaker: CircuitBreaker(policy: deployment.circuitBreaker))
            if shared, let limit = deployment.maxConcurrency {
                state.fleet = FleetSlotAccount(limit: limit, queues: deployment.queue != nil)
            }
            self.state = Mutex(state)
        }
    }

    struct DeploymentState {
        var breaker: CircuitBreaker
        var inFlight = 0
        var latency = EWMA()
        var timeToFirstToken = EWMA()
        var recentLatencies = LatencySamples()
        var coolingDownUntil: ContinuousClock.Instant?
        var healthCheckFailing = false
        /// Ejected by an incident's mitigation: skipped as if its breaker were open, until readmitted.
        var ejected = false
        /// Requests waiting for a slot, when the deployment has a queue.
        var waiting = FairShareQueue<Waiter>()
        /// Set when the deployment's slots are shared by the fleet.
        var fleet: FleetSlotAccount?

        /// Slots this replica may use: the deployment's limit, or its lease of the fleet's slots.
        func cap(_ deployment: Deployment) -> Int? { fleet?.cap ?? deployment.maxConcurrency }

        /// A newcomer may not take a slot: none is free here, or others wait (here or in the fleet).
        func full(_ deployment: Deployment) -> Bool {
            guard let cap = cap(deployment) else { return false }
            return inFlight >= cap || !waiting.isEmpty || fleet?.othersWaiting == true
        }
    }

    typealias Waiter = CheckedContinuation<Result<Lease, Unavailability>, Never>

    private let waiterIDs = Atomic<UInt64>(0)

    public init(deployments: [Deployment], fleet: FleetSlots? = nil) {
        entries = Dictionary(
            deployments.map { ($0.name, Entry($0, shared: fleet != nil)) }, uniquingKeysWith: { first, _ in first })
        self.fleet = fleet
        sharedDeployments = entries.values.filter { $0.state.withLock { $0.fleet != nil } }.map(\.deployment.name).sorted()
    }

    /// Why a deployment cannot take a request now.
    public enum Unavailability: Error, Equatable, Sendable {
        case circuitOpen(retryAfter: Duration)
        case coolingDown(retryAfter: Duration)
        case healthCheckFailing
        /// Taken out of rotation by an incident's mitigation.
        case ejected
        case atCapacity
        /// Waited in the deployment's queue for its whole timeout.
        case queueTimeout(waited: Duration)
    }

    /// A request's claim on a deployment; hand it back with `release`.
    public struct Lease: Sendable {
        public let deployment: String
        let probe: Bool
        let startedAt: ContinuousClock.Instant
    }

    public enum Outcome: Sendable {
        case success(latency: Duration, timeToFirstToken: Duration?)
        /// The deployment failed (unreachable, timeout, 5xx, 429, stream broken).
        case failure
        /// Ended for reasons that say nothing about the deployment (client left, request rejected).
        case neutral
    }

    public func snapshot(_ name: String, at now: ContinuousClock.Instant = .now) -> DeploymentSnapshot? {
        guard let entry = entries[name] else { return nil }
        return entry.state.withLock { state in
            DeploymentSnapshot(
                inFlight: state.inFlight, maxConcurrency: entry.deployment.maxConcurrency, latency: state.latency.value,
                timeToFirstToken: state.timeToFirstToken.value, p95Latency: state.recentLatencies.percentile(0.95),
                unavailability: Self.unavailability(state, entry.deployment, now))
        }
    }

    /// Claims a slot on the deployment if its breaker, cool-down, health check and concurrency limit allow.
    public func acquire(_ name: String, at now: ContinuousClock.Instant = .now) -> Result<Lease, Unavailability> {
        guard let entry = entries[name] else { return .failure(.healthCheckFailing) }
        return entry.state.withLock { state in
            if state.healthCheckFailing { return .failure(.healthCheckFailing) }
            if state.ejected { return .failure(.ejected) }
            if let until = state.coolingDownUntil, until > now { return .failure(.coolingDown(retryAfter: until - now)) }
            // Requests already waiting go first: a newcomer does not take the slot they wait for.
            if state.full(entry.deployment) { return .failure(.atCapacity) }
            return Self.grant(&state, name, now)
        }
    }

    static func grant(_ state: inout DeploymentState, _ name: String, _ now: ContinuousClock.Instant) -> Result<
        Lease, Unavailability
    > {
        // Also for a waiter handed a slot: an ejected deployment serves nobody.
        if state.ejected { return .failure(.ejected) }
        let probe: Bool
        switch state.breaker.admit(at: now) {
        case .allowed: probe = false
        case .probe: probe = true
        case .rejected(let retryAfter): return .failure(.circuitOpen(retryAfter: retryAfter))
        }
        state.inFlight += 1
        return .success(Lease(deployment: name, probe: probe, startedAt: now))
    }

    /// Waits for a slot on a deployment at its concurrency limit, served in fair-share order
    /// (`FairShareQueue`), for at most `policy.timeout`. A full queue answers `atCapacity` at once.
    public func waitForSlot(
        _ name: String, tenant: String, priority: RequestPriority, weight: Int, policy: AdmissionQueuePolicy
    ) async -> Result<Lease, Unavailability> {
        guard let entry = entries[name] else { return .failure(.healthCheckFailing) }
        let id = waiterIDs.add(1, ordering: .relaxed).newValue
        let started = ContinuousClock.now
        let timer = Task {
            try? await Task.sleep(for: policy.timeout)
            self.abandon(name, id: id, with: .queueTimeout(waited: ContinuousClock.now - started))
        }
        defer { timer.cancel() }
        return await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let immediate: Result<Lease, Unavailability>? = entry.state.withLock { state in
                    if !state.full(entry.deployment) { return Self.grant(&state, name, .now) }
                    if state.waiting.count >= policy.maxWaiting { return .failure(.atCapacity) }
                    state.waiting.enqueue(id: id, tenant: tenant, priority: priority, weight: weight, waiter: continuation)
                    state.fleet?.waiterQueued(SlotWaiter(id: id, tenant: tenant, priority: priority, weight: weight))
                    return nil
                }
                if let immediate {
                    continuation.resume(returning: immediate)
                } else {
                    fleet?.kick()
                }
            }
        } onCancel: {
            self.abandon(name, id: id, with: .atCapacity)
        }
    }

    /// Removes a waiter that gave up and answers it.
    private func abandon(_ name: String, id: UInt64, with reason: Unavailability) {
        let removed = entries[name]?.state.withLock { state in
            defer { state.fleet?.waiterLeft(id: id) }
            return state.waiting.remove(id: id)
        }
        removed?.waiter.resume(returning: .failure(reason))
    }

    /// Requests waiting for a slot on the deployment.
    public func waiting(_ name: String) -> Int { entries[name]?.state.withLock { $0.waiting.count } ?? 0 }

    public func release(_ lease: Lease, outcome: Outcome, at now: ContinuousClock.Instant = .now) {
        guard let entry = entries[lease.deployment] else { return }
        // The freed slot goes straight to the next waiter, answered once the lock is released.
        // With leased fleet slots the freed slot goes back to the fleet, whose next waiter may
        // wait on another replica: the keeper is woken to give it back now.
        var handoff: (Waiter, Result<Lease, Unavailability>)?
        var wake = false
        defer {
            if let (waiter, result) = handoff { waiter.resume(returning: result) }
            if wake { fleet?.kick() }
        }
        entry.state.withLock { state in
            state.inFlight = max(0, state.inFlight - 1)
            defer {
                if state.fleet?.mode == .leased {
                    wake = !state.waiting.isEmpty || state.fleet?.othersWaiting == true
                } else if let limit = state.cap(entry.deployment), state.inFlight < limit, let next = state.waiting.next() {
                    state.fleet?.waiterLeft(id: next.id)
                    handoff = (next.waiter, Self.grant(&state, lease.deployment, now))
                }
            }
            switch outcome {
            case .success(let latency, let timeToFirstToken):
                state.breaker.record(success: true, probe: lease.probe, at: now)
                state.latency.add(latency)
                state.recentLatencies.add(latency)
                if let timeToFirstToken { state.timeToFirstToken.add(timeToFirstToken) }
            case .failure:
                state.breaker.record(success: false, probe: lease.probe, at: now)
            case .neutral:
                if lease.probe { state.breaker.releaseProbe() }
            }
        }
    }

    /// The upstream asked us to wait (`Retry-After` on a 429/503): skip it until then.
    public func coolDown(_ name: String, for duration: Duration, at now: ContinuousClock.Instant = .now) {
        entries[name]?.state.withLock { state in
            let until = now + duration
            if state.coolingDownUntil.map({ $0 < until }) ?? true { state.coolingDownUntil = until }
        }
    }

    /// Result of an active health check of the provider behind these deployments.
    public func setHealthCheck(passing: Bool, deployments: [String]) {
        for name in deployments {
            entries[name]?.state.withLock { $0.healthCheckFailing = !passing }
        }
    }

    /// An incident's mitigation takes the deployment out of rotation, or puts it back.
    public func setEjected(_ ejected: Bool, deployment name: String) {
        entries[name]?.state.withLock { $0.ejected = ejected }
    }

    /// Shifts routes' traffic away from a deployment (it goes last in every route's order), or back.
    public func setDemoted(_ demote: Bool, deployment name: String) {
        demoted.withLock { set in
            if demote { set.insert(name) } else { set.remove(name) }
            demotedCount.store(set.count, ordering: .releasing)
        }
    }

    /// The deployments traffic is shifted away from; empty without a lock in the usual case.
    public var demotedDeployments: Set<String> {
        demotedCount.load(ordering: .acquiring) == 0 ? [] : demoted.withLock { $0 }
    }

    /// Output tokens of a route's recent requests, for `cheapest` when a request sets no `max_tokens`.
    public func recordOutputTokens(route: String, _ tokens: Int) {
        outputTokens.withLock { averages in
            averages[route] = averages[route].map { $0 * 0.8 + Double(tokens) * 0.2 } ?? Double(tokens)
        }
    }

    public func averageOutputTokens(route: String) -> Int? {
        outputTokens.withLock { $0[route].map { Int($0.rounded()) } }
    }

    /// Providers whose contract is forecast to be under-used this period (set by the commitment watcher).
    public func setUnderUsedCommitments(providers: Set<String>) {
        underUsedCommitments.withLock { $0 = providers }
    }

    public func hasUnderUsedCommitment(provider: String) -> Bool {
        underUsedCommitments.withLock { $0.contains(provider) }
    }

    /// Replaces the known quality scores (deployments left out have none).
    public func setQualityScores(_ scores: [String: Double]) {
        qualityScores.withLock { $0 = scores }
    }

    /// The deployment's latest canary quality score; nil until it has been probed.
    public func qualityScore(_ name: String) -> Double? {
        qualityScores.withLock { $0[name] }
    }

    public func breakerState(_ name: String) -> CircuitBreaker.State? {
        entries[name]?.state.withLock { $0.breaker.state }
    }

    private static func unavailability(_ state: DeploymentState, _ deployment: Deployment, _ now: ContinuousClock.Instant)
        -> Unavailability?
    {
        if state.healthCheckFailing { return .healthCheckFailing }
        if state.ejected { return .ejected }
        if let until = state.coolingDownUntil, until > now { return .coolingDown(retryAfter: until - now) }
        if !state.breaker.wouldAdmit(at: now) {
            if case .open(let until) = state.breaker.state { return .circuitOpen(retryAfter: until - now) }
            return .circuitOpen(retryAfter: .milliseconds(100))
        }
        // A replica short of fleet slots is not full while a step could lease one.
        if let limit = state.cap(deployment), state.inFlight >= limit, state.fleet?.mayLease(at: now) != true {
            return .atCapacity
        }
        return nil
    }
}

public struct DeploymentSnapshot: Sendable, Equatable {
    public var inFlight: Int
    public var maxConcurrency: Int?
    /// Exponentially weighted recent latency of successful requests; nil before the first.
    public var latency: Duration?
    public var timeToFirstToken: Duration?
    public var p95Latency: Duration?
    public var unavailability: DeploymentMonitor.Unavailability?

    public init(
        inFlight: Int = 0, maxConcurrency: Int? = nil, latency: Duration? = nil, timeToFirstToken: Duration? = nil,
        p95Latency: Duration? = nil, unavailability: DeploymentMonitor.Unavailability? = nil
    ) {
        self.inFlight = inFlight
        self.maxConcurrency = maxConcurrency
        self.latency = latency
        self.timeToFirstToken = timeToFirstToken
        self.p95Latency = p95Latency
        self.unavailability = unavailability
    }

    /// In-flight requests relative to the limit (unlimited deployments count against 1,000).
    public var load: Double { Double(inFlight) / Double(maxConcurrency ?? 1000) }
}

/// An exponentially weighted moving average (α = 0.2: the last ten or so requests dominate).
struct EWMA: Sendable {
    private(set) var value: Duration?

    mutating func add(_ sample: Duration) {
        guard let current = value else {
            value = sample
            return
        }
        value = current * 0.8 + sample * 0.2
    }
}

/// The last 128 latencies, for percentiles (hedging waits for the p95).
struct LatencySamples: Sendable {
    private var samples: [Duration] = []
    private var next = 0
    private static let capacity = 128

    mutating func add(_ sample: Duration) {
        if samples.count < Self.capacity {
            samples.append(sample)
        } else {
            samples[next] = sample
            next = (next + 1) % Self.capacity
        }
    }

    /// Needs at least 10 samples to say anything.
    func percentile(_ fraction: Double) -> Duration? {
        guard samples.count >= 10 else { return nil }
        let sorted = samples.sorted()
        return sorted[min(sorted.count - 1, Int((Double(sorted.count) * fraction).rounded(.up)) - 1)]
    }
}
