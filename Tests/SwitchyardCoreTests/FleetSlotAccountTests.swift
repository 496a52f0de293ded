import Testing

@testable import SwitchyardCore

/// `FleetSlotAccount`, state × event: what a replica may use, what a step carries, and how an
/// answer, a failure and a lost lease change it.
@Suite struct FleetSlotAccountTests {
    let start = ContinuousClock.now

    func step(_ account: inout FleetSlotAccount, inFlight: Int = 0, localWaiting: Bool = false, need: Int = 0)
        -> SlotLeaseCall
    {
        account.beginStep(
            replica: "r#1", pool: "d", leaseMilliseconds: 10_000, inFlight: inFlight, localWaiting: localWaiting,
            need: need, now: start)
    }

    func grant(
        holding: Int, queued: Int = 0, free: Int = 0, live: Int = 3, granted: [UInt64] = [], lost: Bool = false,
        asking: Bool = false
    ) -> SlotLeaseGrant {
        SlotLeaseGrant(
            holding: holding, granted: granted, queued: queued, free: free, liveReplicas: live, lost: lost,
            othersAsking: asking)
    }

    /// The store's answer to `call` (a background step when not given).
    @discardableResult
    func finish(
        _ account: inout FleetSlotAccount, _ grant: SlotLeaseGrant, _ waiters: [SlotWaiter], after call: SlotLeaseCall? = nil
    ) -> [UInt64] {
        let call = call ?? SlotLeaseCall(replica: "r#1", pool: "d", limit: account.limit, leaseMilliseconds: 10_000)
        return account.finishStep(call, grant, localWaiters: waiters, now: start)
    }

    @Test func aNewAccountHoldsNothingAndIsDueAtOnce() {
        let account = FleetSlotAccount(limit: 8)
        #expect(account.cap == 0)
        #expect(account.mayLease(at: start))
        #expect(account.isDue(inFlight: 0, localWaiting: false, now: start))
    }

    @Test func idleAndNobodyWaitingAsksForSpareSlots() {
        var account = FleetSlotAccount(limit: 8, queues: true)
        let call = step(&account, inFlight: 0)
        #expect(call.want == 1 && call.giveBack == 0 && !call.steppedBefore)
        _ = finish(&account, grant(holding: 1, free: 2, live: 2), [])
        #expect(account.cap == 1)
        // A spare idle here may be wanted by a waiter queued elsewhere: look at every tick.
        #expect(account.isDue(inFlight: 0, localWaiting: false, now: start))
        // The spare in use and free slots left: top up at once.
        #expect(account.isDue(inFlight: 1, localWaiting: false, now: start))
    }

    @Test func aFullFleetIsLookedAtFourTimesASecond() {
        var account = FleetSlotAccount(limit: 2)
        _ = step(&account)
        _ = finish(&account, grant(holding: 1, free: 0), [])
        #expect(!account.isDue(inFlight: 1, localWaiting: false, now: start + .milliseconds(200)))
        #expect(account.isDue(inFlight: 1, localWaiting: false, now: start + .milliseconds(250)))
    }

    @Test func idleSlotsGoBackAtOnceWhenAnyoneInTheFleetWaits() {
        var account = FleetSlotAccount(limit: 8)
        _ = step(&account)
        _ = finish(&account, grant(holding: 4, queued: 2), [])
        #expect(account.othersWaiting)
        #expect(account.isDue(inFlight: 1, localWaiting: false, now: start))
        let call = step(&account, inFlight: 1)
        #expect(call.giveBack == 3 && call.want == 0 && call.held == 4 && call.busy == 1)
        // Given back means no longer used here, before the store has answered.
        #expect(account.cap == 1)
    }

    @Test func aBurstLeavesNoHoardBehind() {
        var account = FleetSlotAccount(limit: 40)
        _ = step(&account)
        _ = finish(&account, grant(holding: 12, free: 0), [])
        // 12 held, 0 in flight: twice the spare (1) exceeded, keep one.
        #expect(account.isDue(inFlight: 0, localWaiting: false, now: start))
        let call = step(&account, inFlight: 0)
        #expect(call.giveBack == 11)
    }

    @Test func waitersAreQueuedOnceAndLeaversAreReported() {
        var account = FleetSlotAccount(limit: 2)
        let waiter = SlotWaiter(id: 7, tenant: "acme", priority: .interactive, weight: 1)
        account.waiterQueued(waiter)
        account.waiterQueued(SlotWaiter(id: 8, tenant: "acme", priority: .batch, weight: 1))
        account.waiterLeft(id: 8)  // left before it was sent: not queued (removing it there is a no-op)
        let first = step(&account, localWaiting: true)
        #expect(first.enqueue == [waiter] && first.abandoned == [8])
        _ = finish(&account, grant(holding: 0, queued: 1), [waiter])
        account.waiterLeft(id: 7)
        let second = step(&account, localWaiting: false)
        #expect(second.enqueue.isEmpty && second.abandoned == [7] && second.steppedBefore)
    }

    @Test func aFailedStepFallsBackToTheShareAndKeepsTheQueueChanges() {
        var account = FleetSlotAccount(limit: 7)
        _ = step(&account)
        _ = finish(&account, grant(holding: 1, free: 4, live: 3), [])
        let waiter = SlotWaiter(id: 1, tenant: "acme", priority: .interactive, weight: 2)
        account.waiterQueued(waiter)
        let call = step(&account, localWaiting: true)
        account.failStep(call)
        #expect(account.mode == .fallback(share: 2))  // 7 ÷ 3 replicas seen last
        #expect(account.cap == 2)
        #expect(!account.othersWaiting && !account.mayLease(at: start))
        #expect(!account.isDue(inFlight: 0, localWaiting: true, now: start + .milliseconds(200)))
        #expect(account.isDue(inFlight: 0, localWaiting: true, now: start + .milliseconds(250)))
        // The step may have run with its answer lost: the next one queues the waiter again.
        let retry = step(&account, localWaiting: true)
        #expect(retry.enqueue == [waiter])
        _ = finish(&account, grant(holding: 2, free: 0), [waiter])
        #expect(account.mode == .leased && account.cap == 2)
    }

    @Test func aReplicaThatNeverReachedTheStoreHasOneSlot() {
        var account = FleetSlotAccount(limit: 8)
        account.failStep(step(&account))
        #expect(account.cap == 1)
    }

    @Test func aFailedStepQueuesEveryWaiterAgainAndALeaverIsRemovedThere() {
        var account = FleetSlotAccount(limit: 2)
        let waiters = (1...2).map { SlotWaiter(id: UInt64($0), tenant: "acme", priority: .interactive, weight: 1) }
        for waiter in waiters { account.waiterQueued(waiter) }
        _ = finish(&account, grant(holding: 0, queued: 2), waiters)
        _ = step(&account, localWaiting: true)  // queues both
        _ = finish(&account, grant(holding: 0, queued: 2), waiters)
        account.failStep(step(&account, localWaiting: true))
        // Served here in fallback: the store may still hold it, so it is removed there too.
        account.waiterLeft(id: 1)
        let next = step(&account, localWaiting: true)
        #expect(next.enqueue == [waiters[1]] && next.abandoned == [1])
    }

    @Test func aRequestThatGotNoSlotMakesTheOthersGiveTheirsBack() {
        // This replica: asked for one, got none. For 250 ms no other request asks again.
        var asker = FleetSlotAccount(limit: 1)
        let asked = step(&asker, inFlight: 0, need: 1)
        finish(&asker, grant(holding: 0, free: 0), [], after: asked)
        #expect(!asker.mayLease(at: start + .milliseconds(200)))
        #expect(asker.mayLease(at: start + .milliseconds(250)))
        // Another replica, idle with the one slot as its spare: told someone asks, it gives it back.
        var holder = FleetSlotAccount(limit: 1)
        _ = step(&holder)
        finish(&holder, grant(holding: 1, free: 0, live: 2, lost: false, asking: true), [])
        #expect(holder.isDue(inFlight: 0, localWaiting: false, now: start))
        #expect(step(&holder, inFlight: 0).giveBack == 1)
    }

    @Test func aPoolWithoutAQueueIsNotLookedAtEveryTick() {
        var account = FleetSlotAccount(limit: 8, queues: false)
        _ = step(&account)
        finish(&account, grant(holding: 1, free: 0), [])
        #expect(!account.isDue(inFlight: 0, localWaiting: false, now: start + .milliseconds(100)))
        var queued = FleetSlotAccount(limit: 8, queues: true)
        _ = step(&queued)
        finish(&queued, grant(holding: 1, free: 0), [])
        #expect(queued.isDue(inFlight: 0, localWaiting: false, now: start + .milliseconds(100)))
    }

    @Test func aLoweredLimitCapsWhatIsHeld() {
        var account = FleetSlotAccount(limit: 4)
        finish(&account, grant(holding: 6), [])
        #expect(account.cap == 4)
    }

    @Test func aShareIsNeverBelowOneSlot() {
        var account = FleetSlotAccount(limit: 2)
        _ = step(&account)
        _ = finish(&account, grant(holding: 0, live: 5), [])
        account.failStep(step(&account))
        #expect(account.cap == 1)
    }

    @Test func aLostLeaseQueuesEveryLocalWaiterAgain() {
        var account = FleetSlotAccount(limit: 3)
        let waiters = (1...3).map { SlotWaiter(id: UInt64($0), tenant: "acme", priority: .interactive, weight: 1) }
        for waiter in waiters { account.waiterQueued(waiter) }
        _ = step(&account, localWaiting: true)
        _ = finish(&account, grant(holding: 0, queued: 3), waiters)
        let granted = finish(&account, grant(holding: 1, queued: 0, granted: [2], lost: true), waiters)
        #expect(granted == [2])
        let next = step(&account, inFlight: 1, localWaiting: true)
        #expect(next.enqueue.map(\.id) == [1, 3])
    }
}
