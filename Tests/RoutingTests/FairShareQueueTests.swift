import Routing
import SwitchyardCore
import Testing

@Suite struct FairShareQueueTests {
    @Test func tenantsAreServedInProportionToTheirWeights() {
        var queue = FairShareQueue<Int>()
        var id: UInt64 = 0
        for _ in 0..<400 {
            id += 1
            queue.enqueue(id: id, tenant: "big", priority: .interactive, weight: 3, waiter: 0)
            id += 1
            queue.enqueue(id: id, tenant: "small", priority: .interactive, weight: 1, waiter: 0)
        }
        var served: [String: Int] = [:]
        for _ in 0..<400 { served[queue.next()!.tenant, default: 0] += 1 }
        #expect(served["big"] == 300)
        #expect(served["small"] == 100)
        #expect(queue.count == 400)
    }

    @Test func aFloodingTenantDoesNotDelayAQuietOne() {
        var queue = FairShareQueue<String>()
        for index in 0..<1000 {
            queue.enqueue(id: UInt64(index), tenant: "flood", priority: .interactive, weight: 1, waiter: "f\(index)")
        }
        for _ in 0..<10 { _ = queue.next() }
        // The quiet tenant arrives behind 990 waiting requests and is served within the next two
        // (it starts level with the flood; the tie goes to the older waiter).
        queue.enqueue(id: 5000, tenant: "quiet", priority: .interactive, weight: 1, waiter: "q")
        #expect([queue.next()?.waiter, queue.next()?.waiter].contains("q"))
        // Idle time earns no credit: after its one request the quiet tenant alternates, it does not burst.
        queue.enqueue(id: 5001, tenant: "quiet", priority: .interactive, weight: 1, waiter: "q1")
        queue.enqueue(id: 5002, tenant: "quiet", priority: .interactive, weight: 1, waiter: "q2")
        let order = (0..<4).map { _ in queue.next()!.tenant }
        #expect(order.filter { $0 == "quiet" }.count == 2)
        #expect(order != ["quiet", "quiet", "flood", "flood"])
    }

    @Test func interactiveGoesBeforeBatchAndEachTenantIsFIFO() {
        var queue = FairShareQueue<String>()
        queue.enqueue(id: 1, tenant: "a", priority: .batch, weight: 1, waiter: "a-batch")
        queue.enqueue(id: 2, tenant: "a", priority: .interactive, weight: 1, waiter: "a-1")
        queue.enqueue(id: 3, tenant: "a", priority: .interactive, weight: 1, waiter: "a-2")
        queue.enqueue(id: 4, tenant: "b", priority: .batch, weight: 1, waiter: "b-batch")
        // Within batch, b goes first: a already had two requests served, b none.
        #expect((0..<4).map { _ in queue.next()!.waiter } == ["a-1", "a-2", "b-batch", "a-batch"])
        #expect(queue.next() == nil)
    }

    @Test func aWaiterThatGivesUpLeavesTheQueue() {
        var queue = FairShareQueue<String>()
        queue.enqueue(id: 1, tenant: "a", priority: .interactive, weight: 1, waiter: "x")
        queue.enqueue(id: 2, tenant: "a", priority: .interactive, weight: 1, waiter: "y")
        #expect(queue.remove(id: 1)?.waiter == "x")
        #expect(queue.remove(id: 1) == nil)
        #expect(queue.count == 1)
        #expect(queue.next()?.waiter == "y")
        #expect(queue.isEmpty)
    }
}
