import SwitchyardCore

/// The store a fleet of replicas leases concurrency slots from (Redis in production): a
/// deployment's `max_concurrency`, where requests waiting for a slot queue in one fair-share
/// order for the whole fleet, and a scope's `concurrent_requests` (no queue).
/// Each call is one atomic step: it takes back the slots the replica gives up, queues its new
/// waiters, hands free slots to the globally next waiters and grants spare slots when no one
/// waits. Only background work and a request short of a slot call it.
public protocol FleetSlotStore: Sendable {
    func lease(_ call: SlotLeaseCall) async throws -> SlotLeaseGrant
}

/// One replica's step on one pool of slots.
public struct SlotLeaseCall: Sendable, Equatable {
    public var replica: String
    /// `deployment:` and the deployment's name, or `scope:` and the scope's.
    public var pool: String
    /// Slots for the whole fleet.
    public var limit: Int
    public var leaseMilliseconds: Int64
    /// Slots this replica stopped using before the call (they are free once the step is done).
    public var giveBack: Int
    /// Spare slots wanted, granted only while no request waits anywhere.
    public var want: Int
    /// A request here needs one slot now (0 or 1): granted when one is free and no one waits.
    public var need: Int
    /// The slots this replica holds, to register again what it uses if the store lost its lease.
    public var held: Int
    public var busy: Int
    /// This replica had a lease (a step answered before): if the store has none now, it was lost.
    public var steppedBefore: Bool
    /// Requests that started waiting here since the last step.
    public var enqueue: [SlotWaiter]
    /// Requests of this replica that left the fleet's queue (timed out, client left, served in fallback).
    public var abandoned: [UInt64]

    public init(
        replica: String, pool: String, limit: Int, leaseMilliseconds: Int64, giveBack: Int = 0, want: Int = 0,
        need: Int = 0, held: Int = 0, busy: Int = 0, steppedBefore: Bool = false, enqueue: [SlotWaiter] = [],
        abandoned: [UInt64] = []
    ) {
        self.replica = replica
        self.pool = pool
        self.limit = limit
        self.leaseMilliseconds = leaseMilliseconds
        self.giveBack = giveBack
        self.want = want
        self.need = need
        self.held = held
        self.busy = busy
        self.steppedBefore = steppedBefore
        self.enqueue = enqueue
        self.abandoned = abandoned
    }
}

/// A request waiting for a slot, as the fleet's queue orders it.
public struct SlotWaiter: Sendable, Equatable {
    public var id: UInt64
    public var tenant: String
    public var priority: RequestPriority
    public var weight: Int

    public init(id: UInt64, tenant: String, priority: RequestPriority, weight: Int) {
        self.id = id
        self.tenant = tenant
        self.priority = priority
        self.weight = weight
    }
}

public struct SlotLeaseGrant: Sendable, Equatable {
    /// Slots the store holds for this replica after the step, those of `granted` included.
    public var holding: Int
    /// This replica's waiters that got a slot (since the last step, by any replica's step).
    public var granted: [UInt64]
    /// Requests waiting in the fleet's queue after the step.
    public var queued: Int
    /// Slots no replica holds.
    public var free: Int
    public var liveReplicas: Int
    /// The store had lost this replica's lease (it expired, or Redis restarted empty): its
    /// waiters were dropped from the queue and must be queued again.
    public var lost: Bool
    /// Another replica asked for a slot in the last second and got none (a pool without a
    /// queue): idle slots held here should go back.
    public var othersAsking: Bool

    public init(
        holding: Int, granted: [UInt64], queued: Int, free: Int, liveReplicas: Int, lost: Bool,
        othersAsking: Bool = false
    ) {
        self.holding = holding
        self.granted = granted
        self.queued = queued
        self.free = free
        self.liveReplicas = liveReplicas
        self.lost = lost
        self.othersAsking = othersAsking
    }
}
