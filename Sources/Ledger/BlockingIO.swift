import Dispatch

/// Blocking file work (an append and its `fsync`, milliseconds on a busy disk) run from async
/// code on a thread of its own, so it never holds one of the cooperative pool's few threads.
/// One per file: a file that hangs (a stuck network mount) holds up only its own writes, never
/// the usage journal's.
public final class BlockingIO: Sendable {
    private let queue: DispatchQueue

    public init(label: String) {
        queue = DispatchQueue(label: label)
    }

    public func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            queue.async { continuation.resume(with: Result { try body() }) }
        }
    }
}
