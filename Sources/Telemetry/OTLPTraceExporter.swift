import AsyncHTTPClient
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization

/// Posts the finished spans to the collector over OTLP/HTTP (protobuf): every schedule delay,
/// or as soon as a batch is full. One export at a time; an export that fails or times out loses
/// its batch (counted, logged at most once a minute): spans are diagnostics, and holding them
/// for a collector that is gone would only move the loss to the bounded buffer. At shutdown
/// what is left goes out in one last round, bounded by the export timeout.
public final class OTLPTraceExporter: Service, Sendable {
    public let buffer: SpanBuffer
    private let settings: TraceExportSettings
    private let encoder: OTLPTraceEncoder
    private let client: HTTPClient
    private let logger: Logger
    private let exportedCount = Atomic<Int>(0)
    private let failedCount = Atomic<Int>(0)
    private let lastFailureLog = Mutex<ContinuousClock.Instant?>(nil)

    public init(settings: TraceExportSettings, buffer: SpanBuffer, encoder: OTLPTraceEncoder, logger: Logger) {
        self.settings = settings
        self.buffer = buffer
        self.encoder = encoder
        self.client = HTTPClient(eventLoopGroupProvider: .singleton)
        self.logger = logger
    }

    /// Spans the collector accepted, since start.
    public var exported: Int { exportedCount.load(ordering: .relaxed) }
    /// Spans lost with a failed export, since start.
    public var failed: Int { failedCount.load(ordering: .relaxed) }

    public func run() async throws {
        let delay = Duration.milliseconds(settings.scheduleDelayMilliseconds)
        await withDiscardingTaskGroup { group in
            group.addTask { [buffer] in
                while (try? await Task.sleep(for: delay)) != nil { buffer.wakeExporter() }
            }
            await withGracefulShutdownHandler {
                for await _ in buffer.wakeUps { await exportPending() }
            } onGracefulShutdown: { [buffer] in
                buffer.close()
            }
            group.cancelAll()
        }
        await exportPending()
        try? await client.shutdown()
    }

    /// Everything waiting now, a batch at a time.
    func exportPending() async {
        var batch = buffer.take()
        while !batch.isEmpty {
            await export(batch)
            batch = buffer.take()
        }
    }

    private func export(_ spans: [FinishedSpan]) async {
        var request = HTTPClientRequest(url: settings.endpoint)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/x-protobuf")
        for (name, value) in settings.headers { request.headers.add(name: name, value: value) }
        request.body = .bytes(ByteBuffer(bytes: encoder.encode(spans)))
        do {
            let response = try await client.execute(request, timeout: .milliseconds(Int64(settings.timeoutMilliseconds)))
            _ = try? await response.body.collect(upTo: 64 * 1024)
            guard (200..<300).contains(Int(response.status.code)) else {
                return failed(spans.count, reason: "the collector answered \(response.status.code)")
            }
            exportedCount.add(spans.count, ordering: .relaxed)
        } catch {
            failed(spans.count, reason: "\(error)")
        }
    }

    private func failed(_ count: Int, reason: String) {
        failedCount.add(count, ordering: .relaxed)
        let now = ContinuousClock.now
        let due = lastFailureLog.withLock { last in
            guard last.map({ now - $0 >= .seconds(60) }) ?? true else { return false }
            last = now
            return true
        }
        guard due else { return }
        logger.warning(
            "trace export failed; its spans are lost (logged at most once a minute)",
            metadata: ["endpoint": .string(settings.endpoint), "spans": .stringConvertible(count), "error": .string(reason)])
    }
}
