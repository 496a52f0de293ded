import AsyncHTTPClient
import Logging
import NIOCore
import ServiceLifecycle
import SwitchyardCore
import Synchronization

/// Posts the finished spans to the collector over OTLP/HTTP (protobuf): every schedule delay,
/// or as soon as a batch is full. One export at a time; an export that fails or times out loses
/// its batch (counted, logged at most once a minute): spans are diagnostics, and holding them
/// for a collector that is gone would only move the loss to the bounded buffer. At shutdown
/// what is left goes out in one last round, which stops at its first failure and within one
/// export timeout in all.
public final class OTLPTraceExporter: Service, Sendable {
    public let buffer: SpanBuffer
    private let settings: TraceExportSettings
    private let encoder: OTLPTraceEncoder
    private let exportedCount = Atomic<Int>(0)
    private let failedCount = Atomic<Int>(0)
    private let link: OTLPCollectorLink

    public init(settings: TraceExportSettings, buffer: SpanBuffer, encoder: OTLPTraceEncoder, logger: Logger) {
        self.settings = settings
        self.buffer = buffer
        self.encoder = encoder
        self.link = OTLPCollectorLink(endpoint: settings.endpoint, logger: logger)
    }

    /// Spans the collector accepted, since start.
    public var exported: Int { exportedCount.load(ordering: .relaxed) }
    /// Spans lost with a failed export, since start.
    public var failed: Int { failedCount.load(ordering: .relaxed) }

    public func run() async throws {
        let client = OTLPCollectorLink.makeClient(timeoutMilliseconds: settings.timeoutMilliseconds)
        let delay = Duration.milliseconds(settings.scheduleDelayMilliseconds)
        await withDiscardingTaskGroup { group in
            group.addTask { [buffer] in
                while (try? await Task.sleep(for: delay)) != nil { buffer.wakeExporter() }
            }
            await withGracefulShutdownHandler {
                for await _ in buffer.wakeUps { await exportPending(client) }
            } onGracefulShutdown: { [buffer] in
                buffer.close()
            }
            group.cancelAll()
        }
        await exportPending(client, until: .now + .milliseconds(settings.timeoutMilliseconds))
        try? await client.shutdown()
    }

    /// Everything waiting now, a batch at a time. With a deadline (the last round), it stops at
    /// the first failed batch and at the deadline; what is left is counted as failed.
    func exportPending(_ client: HTTPClient, until deadline: ContinuousClock.Instant? = nil) async {
        var waiting = buffer.takeAll()[...]
        while !waiting.isEmpty {
            let batch = Array(waiting.prefix(settings.maxExportBatchSize))
            waiting = waiting.dropFirst(batch.count)
            let remaining = deadline.map { $0 - .now }
            if let remaining, remaining <= .zero {
                failed(batch.count + waiting.count, reason: "the shutdown's export deadline passed")
                return
            }
            let sent = await export(batch, client: client, within: remaining)
            if !sent, deadline != nil {
                failed(waiting.count, reason: "an export at shutdown failed; the rest is not tried")
                return
            }
        }
    }

    private func export(_ spans: [FinishedSpan], client: HTTPClient, within remaining: Duration?) async -> Bool {
        var request = HTTPClientRequest(url: settings.endpoint)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/x-protobuf")
        for (name, value) in settings.headers { request.headers.add(name: name, value: value) }
        request.body = .bytes(ByteBuffer(bytes: encoder.encode(spans)))
        var timeout = Int64(settings.timeoutMilliseconds)
        if let remaining { timeout = min(timeout, max(1, remaining.milliseconds)) }
        do {
            let response = try await client.execute(request, timeout: .milliseconds(timeout))
            _ = try await response.body.collect(upTo: 64 * 1024)
            guard (200..<300).contains(Int(response.status.code)) else {
                failed(spans.count, reason: "the collector answered \(response.status.code)")
                return false
            }
            exportedCount.add(spans.count, ordering: .relaxed)
            return true
        } catch {
            failed(spans.count, reason: "\(error)")
            return false
        }
    }

    private func failed(_ count: Int, reason: String) {
        guard count > 0 else { return }
        failedCount.add(count, ordering: .relaxed)
        link.warn(
            "trace export failed; its spans are lost (logged at most once a minute)",
            ["spans": .stringConvertible(count), "error": .string(reason)])
    }
}
