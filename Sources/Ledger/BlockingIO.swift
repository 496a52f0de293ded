import Dispatch

/// Blocking file work (an append and its `fsync`, milliseconds on a busy disk) run from async
/// code on a thread of its own, so it never holds one of the cooperative pool's few threads.
public enum BlockingIO {
    private static let queue = DispatchQueue(label: "switchyard.blocking-io")

    public static func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            queue.async { continuation.resume(with: Result { try body() }) }
        }
    }
}
