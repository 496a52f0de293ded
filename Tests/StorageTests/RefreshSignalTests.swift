import Storage
import Testing

/// The watchers' early wake-up: a raise ends the wait at once, a raise with nobody waiting counts
/// for the next wait, and a wait ends by itself at its limit or when cancelled.
@Suite(.timeLimit(.minutes(1))) struct RefreshSignalTests {
    @Test func aRaiseBeforeTheWaitEndsItAtOnce() async {
        let signal = RefreshSignal()
        signal.raise()
        await signal.wait(upTo: .seconds(3600))  // would outlast the time limit
    }

    @Test func aRaiseEndsAWaitUnderWay() async {
        let signal = RefreshSignal()
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await signal.wait(upTo: .seconds(3600)) }
            group.addTask { signal.raise() }  // before or after the wait parks: either way it ends
        }
    }

    @Test func aWaitEndsAtItsLimit() async {
        await RefreshSignal().wait(upTo: .milliseconds(20))
    }

    @Test func aCancelledWaitEnds() async {
        let signal = RefreshSignal()
        let waiting = Task { await signal.wait(upTo: .seconds(3600)) }
        waiting.cancel()
        await waiting.value
    }

    @Test func raisesInALoopWakeTheWatcherAtMostOncePerGap() async {
        let signal = RefreshSignal(minimumGap: .milliseconds(300))
        signal.raise()
        await signal.wait(upTo: .seconds(3600))  // the first wait: no gap to keep
        signal.raise()
        let started = ContinuousClock.now
        await signal.wait(upTo: .seconds(3600))
        #expect(ContinuousClock.now - started >= .milliseconds(250), "a raise woke the watcher again within the gap")
    }

    @Test func oneRaiseEndsOneWait() async {
        let signal = RefreshSignal()
        signal.raise()
        signal.raise()  // raises while nobody waits do not pile up
        await signal.wait(upTo: .seconds(3600))
        let started = ContinuousClock.now
        await signal.wait(upTo: .milliseconds(300))
        #expect(ContinuousClock.now - started >= .milliseconds(300), "a second raise was kept for a second wait")
    }
}
