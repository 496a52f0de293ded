import Providers
import Testing

@Suite struct CancellableSleepTests {
    @Test func sleepsForTheDuration() async throws {
        let started = ContinuousClock.now
        try await cancellableSleep(for: .milliseconds(50))
        #expect(ContinuousClock.now - started >= .milliseconds(50))
    }

    /// Cancelled, an hour's sleep ends: within the test's time limit, which is far above what a
    /// loaded machine takes to schedule two tasks and far below the hour.
    @Test(.timeLimit(.minutes(2))) func cancellationEndsIt() async {
        let sleeper = Task { try await cancellableSleep(for: .seconds(3600)) }
        try? await Task.sleep(for: .milliseconds(20))
        sleeper.cancel()
        let result = await sleeper.result
        #expect(throws: CancellationError.self) { try result.get() }
    }

    @Test func cancelledBeforeItStarts() async {
        let sleeper = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            try await cancellableSleep(for: .seconds(30))
        }
        let result = await sleeper.result
        #expect(throws: CancellationError.self) { try result.get() }
    }
}
