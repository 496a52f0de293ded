/// A condition a test waited for that did not come about in time.
public struct ConditionNotMet: Error, CustomStringConvertible {
    public let description: String
}

/// Checks `condition` every `interval` until it holds, and throws if it has not within `timeout`.
/// The timeout is a bound only a hang reaches, never what a test judges by.
public func waitUntil(
    _ what: @autoclosure () -> String, within timeout: Duration = .seconds(30),
    every interval: Duration = .milliseconds(5), _ condition: () async throws -> Bool
) async throws {
    let deadline = ContinuousClock.now + timeout
    while try await !condition() {
        guard ContinuousClock.now < deadline else {
            throw ConditionNotMet(description: "not within \(timeout): \(what())")
        }
        try await Task.sleep(for: interval)
    }
}
