import SwitchyardCore

/// This replica's part of a pool of fleet-wide concurrency slots (a deployment's
/// `max_concurrency`, a scope's `concurrent_requests`), when replicas share them through a
/// `FleetSlotStore`. A value under its owner's lock (`DeploymentMonitor`, `RateLimiter`), which
/// steps it against the store.
///
/// Two modes. `leased`: the replica uses the slots the store holds for it, and a request that
/// finds none free, or finds others waiting anywhere in the fleet, queues in the fleet's queue:
/// a freed slot goes back to the store, which hands it to the globally next waiter. `fallback`
/// (the store did not answer): the replica uses its share of the limit (limit ÷ the live
/// replicas it saw last, at least one) and serves its own waiters in its local fair order,
/// until a step answers again (one slot when it never reached the store).
public struct FleetSlotAccount: Sendable {
    public enum Mode: Equatable, Sendable {
        case leased
        case fallback(share: Int)
    }

    public let limit: Int
    /// Requests wait in the fleet's queue for a slot (a deployment with `queue:`); without one,
    /// a request that finds no slot is refused.
    public let queues: Bool
    public private(set) var mode: Mode = .leased
    /// Slots the store holds for this replica (as of its last answer, less what was given back since).
    public private(set) var holding = 0
    /// Requests waiting in the fleet's queue at the last step, this replica's included.
    public private(set) var fleetQueued = 0
    /// Slots no replica held at the last step.
    public private(set) var free: Int
    public private(set) var liveReplicas = 1
    /// Another replica asked for a slot and got none: idle slots here should go back.
    public private(set) var othersAsking = false
    /// A step for a request got no slot: until then, no other request steps (a flood of
    /// refusals costs at most four steps a second).
    private var dryUntil: ContinuousClock.Instant?
    private var steppedBefore = false
    private var lastStep: ContinuousClock.Instant?
    /// Local waiters not yet in the fleet's queue, and those that are.
    private var toQueue: [SlotWaiter] = []
    private var queued: [UInt64: SlotWaiter] = [:]
    /// Local waiters in the fleet's queue that left it here (to be removed there).
    private var abandoned: [UInt64] = []

    public init(limit: Int, queues: Bool = false) {
        self.limit = limit
        self.queues = queues
        self.free = limit
    }

    /// Slots this replica may use now.
    public var cap: Int {
        switch mode {
        case .leased: min(holding, limit)
        case .fallback(let share): share
        }
    }

    /// Someone in the fleet waits for a slot: a newcomer here must not take one before them.
    public var othersWaiting: Bool { mode == .leased && fleetQueued > 0 }

    /// A step could bring a slot for a request that finds none here: the fleet had free ones,
    /// or asking makes the others give theirs back.
    public func mayLease(at now: ContinuousClock.Instant) -> Bool {
        mode == .leased && fleetQueued == 0 && (free > 0 || dryUntil.map { now >= $0 } ?? true)
    }

    /// Spare slots worth holding for arrivals: one, and a quarter of those in use.
    public static func spare(inFlight: Int) -> Int { 1 + inFlight / 4 }

    public mutating func waiterQueued(_ waiter: SlotWaiter) {
        toQueue.append(waiter)
    }

    /// A local waiter left (timed out, its client left, or served here while in fallback).
    /// It is removed from the fleet's queue too, even if it seems not to be there: after a lost
    /// answer it may be (removing what is not there is a no-op).
    public mutating func waiterLeft(id: UInt64) {
        if let index = toQueue.firstIndex(where: { $0.id == id }) {
            toQueue.remove(at: index)
        }
        queued.removeValue(forKey: id)
        abandoned.append(id)
    }

    /// Whether the background should step now.
    public func isDue(inFlight: Int, localWaiting: Bool, now: ContinuousClock.Instant) -> Bool {
        guard let lastStep else { return true }
        let since = now - lastStep
        switch mode {
        case .fallback:
            return since >= .milliseconds(250)
        case .leased:
            if !toQueue.isEmpty || !abandoned.isEmpty || localWaiting || fleetQueued > 0 { return true }
            let idle = holding - inFlight
            let spare = Self.spare(inFlight: inFlight)
            if idle > 2 * spare || (idle < spare && free > 0) || (idle > 0 && othersAsking) { return true }
            // A slot idle here may be wanted by a waiter queued on another replica, which only a
            // step tells: look every tick while holding one, else renew four times a second.
            return (queues && idle > 0) || since >= .milliseconds(250)
        }
    }

    /// Plans a step: gives back idle slots when someone waits (or beyond twice the spare),
    /// asks for spare slots when no one does, and carries the queue's changes. The slots given
    /// back are no longer used here from this moment.
    public mutating func beginStep(
        replica: String, pool: String, leaseMilliseconds: Int64, inFlight: Int, localWaiting: Bool, need: Int,
        now: ContinuousClock.Instant
    ) -> SlotLeaseCall {
        var giveBack = 0
        var want = 0
        if mode == .leased {
            let idle = max(0, holding - inFlight)
            let spare = Self.spare(inFlight: inFlight)
            if fleetQueued > 0 || localWaiting || othersAsking {
                giveBack = idle
            } else if idle > 2 * spare {
                giveBack = idle - spare
            } else {
                want = max(0, spare - idle)
            }
        }
        let held = holding
        holding -= giveBack
        let call = SlotLeaseCall(
            replica: replica, pool: pool, limit: limit, leaseMilliseconds: leaseMilliseconds,
            giveBack: giveBack, want: want, need: need, held: held, busy: inFlight, steppedBefore: steppedBefore,
            enqueue: toQueue, abandoned: abandoned)
        for waiter in toQueue { queued[waiter.id] = waiter }
        toQueue = []
        abandoned = []
        lastStep = now
        return call
    }

    /// Takes the store's answer; returns the local waiters it granted a slot. If the store had
    /// lost this replica's lease, every local waiter is queued again.
    public mutating func finishStep(
        _ call: SlotLeaseCall, _ grant: SlotLeaseGrant, localWaiters: [SlotWaiter], now: ContinuousClock.Instant
    ) -> [UInt64] {
        steppedBefore = true
        mode = .leased
        dryUntil = call.need > 0 && grant.holding <= call.held - call.giveBack ? now + .milliseconds(250) : nil
        othersAsking = grant.othersAsking
        holding = grant.holding
        fleetQueued = grant.queued
        free = grant.free
        liveReplicas = max(1, grant.liveReplicas)
        for id in grant.granted { queued.removeValue(forKey: id) }
        if grant.lost {
            // Queuing a waiter the store has already is a no-op there.
            let granted = Set(grant.granted)
            toQueue = localWaiters.filter { !granted.contains($0.id) }
            queued = [:]
        }
        return grant.granted
    }

    /// The store did not answer: fall back to this replica's share. Every local waiter is queued
    /// again at the next step (a no-op for those the store has): the step may have run with its
    /// answer lost, and granted slots to waiters here that will never hear of it (those slots
    /// come back as idle ones in the next answer).
    public mutating func failStep(_ call: SlotLeaseCall) {
        mode = .fallback(share: steppedBefore ? max(1, limit / liveReplicas) : 1)
        toQueue += queued.values.sorted { $0.id < $1.id }
        queued = [:]
        abandoned += call.abandoned
    }
}
