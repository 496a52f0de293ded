import Logging
import SwitchyardCore
import Synchronization

/// This replica's side of the quotas a fleet shares: it steps each shared budget's and rate
/// limit's lease on the shared store, one step at a time (a step reports spend and changes the
/// lease, so two at once would book a report twice).
///
/// Requests never wait on it while their lease has room: `maintain` tops leases up in the
/// background. A request short of lease (the first of a period, or near a quota's end) waits for
/// one step. When the store cannot be reached, each quota falls back to this replica's share of
/// what was left at the last contact and stays closed beyond it (`BudgetShare.fallBack`).
public final class FleetLeases: Sendable {
    public let replica: String
    public let leaseMilliseconds: Int64
    private let store: any FleetQuotaStore
    /// The period's spend in the ledger, for a counter the store lost (Redis restarted empty).
    private let ledgerSpend: @Sendable (Budget, CalendarPeriod) async throws -> Int64
    private let logger: Logger
    private let gate = AsyncGate()
    private let counters = Mutex(Counters())

    struct Counters {
        var requestSteps = 0
        var backgroundSteps = 0
        var failures = 0
        var unreachable = false
    }

    /// `replica` names this replica; each process adds an instance of its own, so a restarted
    /// replica never inherits what the store booked for its predecessor.
    public init(
        replica: String, store: any FleetQuotaStore, leaseMilliseconds: Int64 = 10_000,
        ledgerSpend: @escaping @Sendable (Budget, CalendarPeriod) async throws -> Int64, logger: Logger
    ) {
        self.replica = "\(replica)#\(RandomIdentifier.lowercase(count: 6))"
        self.store = store
        self.leaseMilliseconds = leaseMilliseconds
        self.ledgerSpend = ledgerSpend
        self.logger = logger
    }

    /// Steps taken for a request that was short of lease, and in the background.
    public var requestSteps: Int { counters.withLock { $0.requestSteps } }
    public var backgroundSteps: Int { counters.withLock { $0.backgroundSteps } }
    public var failedSteps: Int { counters.withLock { $0.failures } }

    /// Leases enough for `needs` if the fleet has it; the caller tries its reservation again.
    /// Steps are planned and answered on the governor's budgets of the moment: a live
    /// governance change meanwhile carried the shares over to a new keeper.
    func lease(_ needs: [BudgetLeaseNeed], for governor: Governor) async {
        await gate.withLock {
            for need in needs {
                // Checked inside the gate: a step for another request may have brought enough.
                guard
                    let call = governor.budgets.step(for: need, replica: replica, leaseMilliseconds: leaseMilliseconds)
                else { continue }
                counters.withLock { $0.requestSteps += 1 }
                await step(call, for: governor)
            }
        }
    }

    /// Leases enough requests and tokens for `needs` if the fleet's buckets have them.
    func lease(_ needs: [RateLeaseNeed], for governor: Governor) async {
        await gate.withLock {
            for need in needs {
                if need.slots > 0,
                    let call = governor.limiter.slotStep(
                        for: need, replica: replica, leaseMilliseconds: leaseMilliseconds, now: .now)
                {
                    counters.withLock { $0.requestSteps += 1 }
                    await step(call, for: governor)
                }
                guard
                    let call = governor.limiter.step(for: need, replica: replica, leaseMilliseconds: leaseMilliseconds)
                else { continue }
                counters.withLock { $0.requestSteps += 1 }
                await step(call, for: governor)
            }
        }
    }

    /// The background work of one tick: every step that is due, planned inside the gate so that
    /// no request's step changes a lease between plan and answer.
    public func maintain(_ governor: Governor, now: UnixMicros = .now()) async {
        let clock = ContinuousClock.now
        let due =
            !governor.budgets.dueSteps(replica: replica, leaseMilliseconds: leaseMilliseconds, now: now).isEmpty
            || !governor.limiter.dueSteps(replica: replica, leaseMilliseconds: leaseMilliseconds, now: clock).isEmpty
            || governor.limiter.hasSharedConcurrency
        await report(governor.runaway.dueReports(replica: replica, now: clock, at: now), for: governor)
        guard due else { return }
        await gate.withLock {
            for call in governor.budgets.dueSteps(replica: replica, leaseMilliseconds: leaseMilliseconds, now: now) {
                counters.withLock { $0.backgroundSteps += 1 }
                await step(call, for: governor)
            }
            for call in governor.limiter.dueSteps(replica: replica, leaseMilliseconds: leaseMilliseconds, now: clock) {
                counters.withLock { $0.backgroundSteps += 1 }
                await step(call, for: governor)
            }
            let slotCalls = governor.limiter.dueSlotSteps(
                replica: replica, leaseMilliseconds: leaseMilliseconds, now: clock)
            for call in slotCalls {
                counters.withLock { $0.backgroundSteps += 1 }
                await step(call, for: governor)
            }
        }
    }

    /// Runaway spend reports; the first failure ends the tick's (each may wait for the store's timeout).
    private func report(_ reports: [RunawaySpendCall], for governor: Governor) async {
        for report in reports {
            counters.withLock { $0.backgroundSteps += 1 }
            do {
                governor.runaway.apply(report, try await store.report(report))
                reachable()
            } catch {
                unreachable(error, budget: nil)
                return
            }
        }
    }

    /// Reports what is left to report and gives every lease back (at shutdown, once drained).
    public func returnLeases(_ governor: Governor) async {
        await report(governor.runaway.dueReports(replica: replica, now: .now, final: true), for: governor)
        await gate.withLock {
            for call in governor.budgets.finalSteps(replica: replica, leaseMilliseconds: leaseMilliseconds) {
                counters.withLock { $0.backgroundSteps += 1 }
                await step(call, for: governor)
            }
            for call in governor.limiter.finalSteps(replica: replica, leaseMilliseconds: leaseMilliseconds) {
                counters.withLock { $0.backgroundSteps += 1 }
                await step(call, for: governor)
            }
            for call in governor.limiter.finalSlotSteps(replica: replica) {
                _ = try? await store.lease(call)
            }
        }
    }

    private func step(_ call: SlotLeaseCall, for governor: Governor) async {
        do {
            governor.limiter.finishSlotStep(call, try await store.lease(call))
            reachable()
        } catch {
            governor.limiter.failSlotStep(call)
            unreachable(error, budget: nil)
        }
    }

    private func step(_ call: RateLeaseCall, for governor: Governor) async {
        do {
            let grant = try await store.lease(call)
            governor.limiter.apply(call, grant, now: .now)
            reachable()
        } catch {
            governor.limiter.fallBack(call, now: .now)
            unreachable(error, budget: nil)
        }
    }

    private func step(_ call: BudgetLeaseCall, for governor: Governor) async {
        do {
            var call = call
            var reply = try await store.lease(call)
            if reply == .missing, let budget = governor.budgets.budget(named: call.budget) {
                let period = call.period
                call.seed = try await withDeadline(.seconds(2)) { [ledgerSpend] in try await ledgerSpend(budget, period) }
                reply = try await store.lease(call)
            }
            guard case .granted(let grant) = reply else { throw FleetStepError.counterMissing }
            governor.budgets.apply(call, grant, now: .now())
            reachable()
        } catch {
            let started = governor.budgets.fallBack(call, now: .now())
            unreachable(error, budget: started ? call.budget : nil)
        }
    }

    private func reachable() {
        let recovered = counters.withLock { counters in
            defer { counters.unreachable = false }
            return counters.unreachable
        }
        if recovered { logger.notice("shared quota store reachable again; leases resume") }
    }

    private func unreachable(_ error: any Error, budget: String?) {
        let first = counters.withLock { counters in
            counters.failures += 1
            defer { counters.unreachable = true }
            return !counters.unreachable
        }
        if first {
            logger.error(
                "shared quota store unreachable; each shared quota falls back to this replica's share",
                metadata: ["error": "\(error)"])
        }
        if let budget {
            logger.warning("budget spends its local share until the store answers", metadata: ["budget": "\(budget)"])
        }
    }
}

enum FleetStepError: Error {
    case counterMissing
    case deadlinePassed
}

/// `body`'s answer, or `deadlinePassed` after `limit` (the ledger's spend, while every lease
/// step waits behind it, must not take a store's statement timeout).
func withDeadline<T: Sendable>(_ limit: Duration, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
    try await withThrowingTaskGroup(of: T.self) { group in
        group.addTask { try await body() }
        group.addTask {
            try await Task.sleep(for: limit)
            throw FleetStepError.deadlinePassed
        }
        defer { group.cancelAll() }
        return try await group.next()!
    }
}
