import SwitchyardCore

/// The order in which requests waiting for a saturated deployment are served.
///
/// Strict priority between classes (interactive before batch); within a class, weighted fair
/// queuing between tenants: each tenant has a virtual time that advances by 1/weight for each
/// request it is served, and the waiting tenant with the least virtual time goes next (ties:
/// the earliest waiter). A tenant that starts waiting begins at the least virtual time of those
/// already waiting, so being idle earns no credit to flood later. Requests of one tenant are FIFO.
/// A pure value: `DeploymentMonitor` keeps one per deployment under its lock.
public struct FairShareQueue<Waiter> {
    public struct Entry {
        public let id: UInt64
        public let tenant: String
        public let priority: RequestPriority
        public let weight: Int
        public let waiter: Waiter
        let order: UInt64
    }

    private var lanes: [RequestPriority: [String: [Entry]]] = [:]
    private var virtualTime: [String: Double] = [:]
    private var nextOrder: UInt64 = 0
    public private(set) var count = 0

    public init() {}

    public var isEmpty: Bool { count == 0 }

    public mutating func enqueue(id: UInt64, tenant: String, priority: RequestPriority, weight: Int, waiter: Waiter) {
        if lanes[priority]?[tenant]?.isEmpty ?? true {
            let active = lanes.values.flatMap { $0.filter { !$0.value.isEmpty }.keys }.compactMap { virtualTime[$0] }
            virtualTime[tenant] = max(virtualTime[tenant] ?? 0, active.min() ?? virtualTime[tenant] ?? 0)
        }
        weights[tenant] = Double(max(1, weight))
        lanes[priority, default: [:]][tenant, default: []].append(
            Entry(id: id, tenant: tenant, priority: priority, weight: weight, waiter: waiter, order: nextOrder))
        nextOrder += 1
        count += 1
    }

    private var weights: [String: Double] = [:]

    /// The next request to serve, removed from the queue.
    public mutating func next() -> Entry? {
        for priority in RequestPriority.allCases.sorted() {
            guard let tenants = lanes[priority] else { continue }
            let candidates = tenants.filter { !$0.value.isEmpty }
            guard
                let tenant = candidates.min(by: { a, b in
                    let (va, vb) = (virtualTime[a.key] ?? 0, virtualTime[b.key] ?? 0)
                    return va != vb ? va < vb : a.value[0].order < b.value[0].order
                })?.key
            else { continue }
            let entry = lanes[priority]![tenant]!.removeFirst()
            virtualTime[tenant, default: 0] += 1 / (weights[tenant] ?? 1)
            count -= 1
            return entry
        }
        return nil
    }

    /// Every waiter, in no particular order.
    public var entries: [Entry] { lanes.values.flatMap { $0.values.joined() } }

    /// Removes a waiter that gave up (timed out or its client left).
    public mutating func remove(id: UInt64) -> Entry? {
        for (priority, tenants) in lanes {
            for (tenant, entries) in tenants {
                if let index = entries.firstIndex(where: { $0.id == id }) {
                    count -= 1
                    return lanes[priority]![tenant]!.remove(at: index)
                }
            }
        }
        return nil
    }
}
