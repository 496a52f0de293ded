import SwitchyardCore
import Synchronization

/// This replica's side of the deployment slots a fleet shares: it steps each shared
/// deployment's slot lease on the shared store, one step at a time per deployment.
///
/// Requests never wait on it while a slot is free here: `maintain` keeps spare slots in the
/// background, gives idle ones back when anyone in the fleet waits, queues local waiters in the
/// fleet's queue and hands them the slots the store granted. A release that frees a slot
/// someone waits for wakes the background (`kick`) rather than waiting for its next tick.
public final class FleetSlots: Sendable {
    public let replica: String
    public let leaseMilliseconds: Int64
    private let store: any FleetSlotStore
    private let state = Mutex(State())
    /// Told when the store stops or starts answering (to log it once per change).
    private let reachability: @Sendable (_ reachable: Bool, _ error: (any Error)?) -> Void

    struct State {
        var requestSteps = 0
        var backgroundSteps = 0
        var failures = 0
        var unreachable = false
        var kicked = false
        var sleeper: CheckedContinuation<Void, Never>?
        /// One per deployment: a step plans against the state the previous one left.
        var gates: [String: AsyncGate] = [:]
    }

    private func gate(_ deployment: String) -> AsyncGate {
        state.withLock { state in
            if let gate = state.gates[deployment] { return gate }
            let gate = AsyncGate()
            state.gates[deployment] = gate
            return gate
        }
    }

    /// `replica` is this process's instance in the store (the one its budget leases use).
    public init(
        replica: String, store: any FleetSlotStore, leaseMilliseconds: Int64 = 10_000,
        reachability: @escaping @Sendable (_ reachable: Bool, _ error: (any Error)?) -> Void = { _, _ in }
    ) {
        self.replica = replica
        self.store = store
        self.leaseMilliseconds = leaseMilliseconds
        self.reachability = reachability
    }

    public var requestSteps: Int { state.withLock { $0.requestSteps } }
    public var backgroundSteps: Int { state.withLock { $0.backgroundSteps } }
    public var failedSteps: Int { state.withLock { $0.failures } }

    /// One step for a request that found no slot here while the fleet had free ones; the
    /// caller tries to acquire again.
    public func lease(_ deployment: String, for monitor: DeploymentMonitor) async {
        await stepIfWanted(deployment, for: monitor, need: 1)
    }

    /// The background work of one tick: every step that is due.
    public func maintain(_ monitor: DeploymentMonitor) async {
        for deployment in monitor.sharedDeployments {
            await stepIfWanted(deployment, for: monitor, need: 0)
        }
    }

    /// Plans inside the deployment's gate, so no other step changes the lease between plan and answer.
    private func stepIfWanted(_ deployment: String, for monitor: DeploymentMonitor, need: Int) async {
        await gate(deployment).withLock {
            guard
                let call = monitor.beginSlotStep(
                    deployment, replica: replica, leaseMilliseconds: leaseMilliseconds, need: need)
            else { return }
            state.withLock { need > 0 ? ($0.requestSteps += 1) : ($0.backgroundSteps += 1) }
            await step(call, for: monitor)
        }
    }

    /// Gives every slot back and leaves the fleet's queue (at shutdown, once drained).
    public func returnSlots(_ monitor: DeploymentMonitor) async {
        for deployment in monitor.sharedDeployments {
            await gate(deployment).withLock {
                guard let entry = monitor.entries[deployment] else { return }
                let call: SlotLeaseCall? = entry.state.withLock { state in
                    guard let account = state.fleet else { return nil }
                    return SlotLeaseCall(
                        replica: replica, pool: DeploymentMonitor.pool(deployment), limit: account.limit, leaseMilliseconds: 1,
                        giveBack: max(0, account.holding - state.inFlight), held: account.holding, busy: state.inFlight,
                        abandoned: state.waiting.entries.map(\.id))
                }
                guard let call else { return }
                _ = try? await store.lease(call)
            }
        }
    }

    private func step(_ call: SlotLeaseCall, for monitor: DeploymentMonitor) async {
        do {
            let grant = try await store.lease(call)
            monitor.finishSlotStep(call, grant)
            let recovered = state.withLock { state in
                defer { state.unreachable = false }
                return state.unreachable
            }
            if recovered { reachability(true, nil) }
        } catch {
            monitor.failSlotStep(call)
            let first = state.withLock { state in
                state.failures += 1
                defer { state.unreachable = true }
                return !state.unreachable
            }
            if first { reachability(false, error) }
        }
    }

    /// Wakes `waitForKick` now (a slot someone waits for was freed, or a request queued).
    public func kick() {
        let sleeper = state.withLock { state in
            defer { state.sleeper = nil }
            // A sleeper woken consumes the kick; with none, the next wait returns at once.
            state.kicked = state.sleeper == nil
            return state.sleeper
        }
        sleeper?.resume()
    }

    /// Waits for `interval`, or less if `kick` is called meanwhile (or was since the last wait).
    public func waitForKick(upTo interval: Duration) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { try? await Task.sleep(for: interval) }
            group.addTask { await self.nextKick() }
            await group.next()
            group.cancelAll()
        }
    }

    private func nextKick() async {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let now = state.withLock { state in
                    if state.kicked {
                        state.kicked = false
                        return true
                    }
                    if Task.isCancelled { return true }
                    state.sleeper = continuation
                    return false
                }
                if now { continuation.resume() }
            }
        } onCancel: {
            let sleeper = state.withLock { state in
                defer { state.sleeper = nil }
                return state.sleeper
            }
            sleeper?.resume()
        }
    }
}
