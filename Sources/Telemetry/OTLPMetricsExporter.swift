import AsyncHTTPClient
import Logging
import NIOCore
import Observability
import ServiceLifecycle
import Synchronization
import Tracing

/// Pushes the metrics registry to the collector over OTLP/HTTP (protobuf) every interval, and
/// once more at shutdown (within one timeout). It reads the registry off the request path: one
/// copy under the registry's lock per push, so a request pays nothing for it. A push that
/// fails is counted and logged at most once a minute; the next one carries the cumulative values,
/// so nothing is lost but the failed instant.
public final class OTLPMetricsExporter: Service, Sendable {
    private let settings: MetricsExportSettings
    private let registry: MetricsRegistry
    /// Brings the values read only when asked up to date, before each push.
    private let collect: @Sendable () -> Void
    private let encoder: OTLPMetricsEncoder
    private let pushedCount = Atomic<Int>(0)
    private let failedCount = Atomic<Int>(0)
    private let link: OTLPCollectorLink

    public init(
        settings: MetricsExportSettings, registry: MetricsRegistry, collect: @escaping @Sendable () -> Void = {},
        logger: Logger
    ) {
        self.settings = settings
        self.registry = registry
        self.collect = collect
        self.encoder = OTLPMetricsEncoder(resource: settings.resource, startNanos: Self.nowNanos())
        self.link = OTLPCollectorLink(endpoint: settings.endpoint, logger: logger)
    }

    /// Pushes the collector accepted, and those that failed, since start.
    public var pushed: Int { pushedCount.load(ordering: .relaxed) }
    public var failed: Int { failedCount.load(ordering: .relaxed) }

    public func run() async throws {
        let client = OTLPCollectorLink.makeClient(timeoutMilliseconds: settings.timeoutMilliseconds)
        let interval = Duration.milliseconds(settings.intervalMilliseconds)
        try? await cancelWhenGracefulShutdown {
            while true {
                try await Task.sleep(for: interval)
                await self.push(client)
            }
        }
        // The last values, so a collector sees what the process counted up to its end.
        await push(client)
        try? await client.shutdown()
    }

    func push(_ client: HTTPClient) async {
        var request = HTTPClientRequest(url: settings.endpoint)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/x-protobuf")
        for (name, value) in settings.headers { request.headers.add(name: name, value: value) }
        collect()
        // Its own counts go out with the rest (and show on /metrics).
        for (outcome, count) in [("pushed", pushed), ("failed", failed)] {
            registry.set(
                "switchyard_otlp_metric_pushes", help: "Metric pushes to the OTLP collector since start, by outcome.",
                labels: [("outcome", outcome)], to: Int64(count))
        }
        request.body = .bytes(ByteBuffer(bytes: encoder.encode(registry.snapshot(), atNanos: Self.nowNanos())))
        do {
            // The answer's head is all that counts: its body is not read (a collector that trickles
            // it cannot hold a push, or the shutdown, past the timeout).
            let response = try await client.execute(request, timeout: .milliseconds(Int64(settings.timeoutMilliseconds)))
            guard (200..<300).contains(Int(response.status.code)) else {
                return failed(reason: "the collector answered \(response.status.code)")
            }
            pushedCount.add(1, ordering: .relaxed)
        } catch {
            // A push cut by the shutdown is not a failure: the last one follows.
            if Task.isCancelled { return }
            failed(reason: "\(type(of: error))")
        }
    }

    private func failed(reason: String) {
        failedCount.add(1, ordering: .relaxed)
        link.warn("metrics push failed (logged at most once a minute)", ["error": .string(reason)])
    }

    static func nowNanos() -> UInt64 { DefaultTracerClock.now.nanosecondsSinceEpoch }
}
