import Providers
import Testing

@Suite struct CancellableSleepTests {
    @Test func sleepsForTheDuration() async throws {
        let started = ContinuousClock.now
        try await cancellableSleep(for: .milliseconds(50))
        #expect(ContinuousClock.now - started >= .milliseconds(50))
    }

    @Test func cancellationEndsItAtOnce() async {
        let started = ContinuousClock.now
        let sleeper = Task { try await cancellableSleep(for: .seconds(30)) }
        try? await Task.sleep(for: .milliseconds(20))
        sleeper.cancel()
        let result = await sleeper.result
        #expect(throws: CancellationError.self) { try result.get() }
        // Far below the 30 s it would otherwise sleep, with room for a loaded 2-core machine.
        #expect(ContinuousClock.now - started < .seconds(10))
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
