import Synchronization

/// Where a graceful shutdown stands, as the data plane sees it: draining (readiness says so)
/// and then, if the drain timeout passed with requests in flight, cutting them. A request whose
/// task is cancelled while `isCutting` was cut by the gateway, not left by its client.
final class ShutdownState: Sendable {
    private let draining = Atomic<Bool>(false)
    private let cutting = Atomic<Bool>(false)

    var isDraining: Bool { draining.load(ordering: .relaxed) }
    var isCutting: Bool { cutting.load(ordering: .relaxed) }

    func startDraining() { draining.store(true, ordering: .relaxed) }
    func startCutting() { cutting.store(true, ordering: .relaxed) }
}
