import SwitchyardCore
import Testing
import Tracing

@testable import Telemetry

@Suite struct SpanRecorderTests {
    @Test func childrenShareTheTraceAndNameTheirParent() {
        let recorder = SpanRecorder(buffer: SpanBuffer(capacity: 8, batchSize: 8))
        let root = recorder.startSpan("request", context: .topLevel, ofKind: .server)
        let child = recorder.startSpan("attempt", context: root.context, ofKind: .client)
        #expect(child.identity.traceIDHigh == root.identity.traceIDHigh)
        #expect(child.identity.traceIDLow == root.identity.traceIDLow)
        #expect(child.parentSpanID == root.identity.spanID)
        #expect(child.identity.spanID != root.identity.spanID)
        #expect(root.parentSpanID == nil)
        child.end()
        root.end()
        root.end()  // a second end is not a second span
        #expect(recorder.buffer.takeAll().map(\.name) == ["attempt", "request"])
    }

    @Test func aClientsTraceIsContinuedAndPropagated() {
        let recorder = SpanRecorder(buffer: SpanBuffer(capacity: 8, batchSize: 8))
        var context = InstrumentationContext.topLevel
        let parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        recorder.extract(["traceparent": parent, "tracestate": "v=1"], into: &context, using: DictionaryExtractor())
        let span = recorder.startSpan("request", context: context, ofKind: .server)
        #expect(span.identity.traceIDHex == "4bf92f3577b34da6a3ce929d0e0e4736")
        #expect(span.parentSpanID == 0x00f0_67aa_0ba9_02b7)
        var headers: [String: String] = [:]
        recorder.inject(span.context, into: &headers, using: DictionaryInjector())
        #expect(headers["traceparent"] == "00-4bf92f3577b34da6a3ce929d0e0e4736-\(Hex.fixed(span.identity.spanID))-01")
        #expect(headers["tracestate"] == "v=1")
    }

    @Test func anInvalidTraceparentIsIgnored() {
        for bad in [
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01", "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01", "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0", "",
        ] {
            #expect(SpanIdentity.parse(traceparent: bad, traceState: nil) == nil, "\(bad)")
        }
        let unsampled = SpanIdentity.parse(
            traceparent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00", traceState: nil)
        #expect(unsampled?.sampled == false)
        #expect(unsampled?.traceparent == "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00")
    }
}

@Suite struct SpanBufferTests {
    @Test func aFullBufferDropsAndCounts() {
        let buffer = SpanBuffer(capacity: 3, batchSize: 2)
        let recorder = SpanRecorder(buffer: buffer)
        for index in 0..<5 { recorder.startSpan("s\(index)", context: .topLevel, ofKind: .internal).end() }
        #expect(buffer.dropped == 2)
        #expect(buffer.count == 3)
        // The oldest kept, in order; taken out once.
        #expect(buffer.takeAll().map(\.name) == ["s0", "s1", "s2"])
        #expect(buffer.takeAll().isEmpty)
    }
}

@Suite struct ProtobufWriterTests {
    @Test func wireTypesAsTheSpecificationWritesThem() {
        var writer = ProtobufWriter()
        writer.varint(1, 150)  // the specification's example: 08 96 01
        writer.signed(3, -1)  // ten bytes of varint
        writer.string(2, "testing")
        writer.fixed64(7, 1)
        writer.fixed32(16, 0x101)
        writer.message(9) { $0.varint(1, 1) }
        #expect(
            writer.bytes == [0x08, 0x96, 0x01] + [0x18] + Array(repeating: 0xFF, count: 9) + [0x01]
                + [0x12, 0x07] + Array("testing".utf8) + [0x39, 1, 0, 0, 0, 0, 0, 0, 0] + [0x85, 0x01, 0x01, 0x01, 0, 0]
                + [0x4A, 0x02, 0x08, 0x01])
    }

    @Test func aSpansIdsAreWrittenMostSignificantByteFirst() {
        let identity = SpanIdentity(
            traceIDHigh: 0x0102_0304_0506_0708, traceIDLow: 0x090A_0B0C_0D0E_0F10, spanID: 0x1112_1314_1516_1718,
            traceState: nil, sampled: true)
        let span = FinishedSpan(
            identity: identity, parentSpanID: nil, name: "n", kind: .server, startNanos: 1, endNanos: 2,
            attributes: [:], events: [], status: nil)
        var writer = ProtobufWriter()
        OTLPTraceEncoder.encode(span, into: &writer)
        #expect(Array(writer.bytes.prefix(18)) == [0x0A, 16] + Array(1...16))
        #expect(Array(writer.bytes[18..<28]) == [0x12, 8] + Array(0x11...0x18))
    }
}

@Suite struct SpanFlagsTests {
    /// `Span.flags` (fixed32, field 16): sampled, and whether the parent is remote (bits 8 and 9).
    @Test func aSpanContinuedFromAClientSaysItsParentIsRemote() {
        let recorder = SpanRecorder(buffer: SpanBuffer(capacity: 8, batchSize: 8))
        var context = InstrumentationContext.topLevel
        recorder.extract(
            ["traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"], into: &context,
            using: DictionaryExtractor())
        let server = recorder.startSpan("request", context: context, ofKind: .server)
        recorder.startSpan("attempt", context: server.context, ofKind: .client).end()
        server.end()
        recorder.startSpan("root", context: .topLevel, ofKind: .server).end()
        let flags = recorder.buffer.takeAll().map { span -> [UInt8] in
            var writer = ProtobufWriter()
            OTLPTraceEncoder.encode(span, into: &writer)
            return Array(writer.bytes.suffix(6))
        }
        // 0x85 0x01 is field 16 as fixed32; then the value, little-endian.
        #expect(flags[0] == [0x85, 0x01, 0x01, 0x01, 0x00, 0x00])  // attempt: local parent
        #expect(flags[1] == [0x85, 0x01, 0x01, 0x03, 0x00, 0x00])  // request: the client's span is its parent
        #expect(flags[2] == [0x85, 0x01, 0x01, 0x01, 0x00, 0x00])  // a new trace's root
    }
}

@Suite struct TraceExportSettingsTests {
    @Test func theEnvironmentWinsOverTheFile() throws {
        let file = TraceExportSettings.FileSettings(endpoint: "http://file:4318/", serviceName: "from-file", sampleRatio: 0.5)
        let fromFile = try #require(try TraceExportSettings.resolve(file: file, instanceID: "r1", environment: [:]))
        #expect(fromFile.endpoint == "http://file:4318/v1/traces")
        #expect(fromFile.sampling == .init(ratio: 0.5, followsParent: true))
        #expect(fromFile.resource.first { $0.0 == "service.name" }?.1 == "from-file")
        #expect(fromFile.resource.first { $0.0 == "service.instance.id" }?.1 == "r1")

        let environment = [
            "OTEL_EXPORTER_OTLP_ENDPOINT": "http://env:4318", "OTEL_SERVICE_NAME": "from-env",
            "OTEL_RESOURCE_ATTRIBUTES": "deployment.environment=prod,team=a%2Cb,service.name=second",
            "OTEL_EXPORTER_OTLP_HEADERS": "authorization=Bearer%20x", "OTEL_TRACES_SAMPLER": "traceidratio",
            "OTEL_TRACES_SAMPLER_ARG": "0.25", "OTEL_BSP_MAX_QUEUE_SIZE": "100", "OTEL_BSP_SCHEDULE_DELAY": "200",
        ]
        let settings = try #require(try TraceExportSettings.resolve(file: file, instanceID: "r1", environment: environment))
        #expect(settings.endpoint == "http://env:4318/v1/traces")
        #expect(settings.resource.first { $0.0 == "service.name" }?.1 == "from-env")
        #expect(settings.resource.filter { $0.0 == "service.name" }.count == 1)
        // Without OTEL_SERVICE_NAME, the resource attributes' service.name still wins over the file.
        var fromAttributes = environment
        fromAttributes["OTEL_SERVICE_NAME"] = nil
        let second = try TraceExportSettings.resolve(file: file, instanceID: "r1", environment: fromAttributes)
        #expect(second?.resource.first { $0.0 == "service.name" }?.1 == "second")
        #expect(settings.resource.first { $0.0 == "team" }?.1 == "a,b")
        #expect(settings.headers.map { "\($0.0): \($0.1)" } == ["authorization: Bearer x"])
        #expect(settings.sampling == .init(ratio: 0.25, followsParent: false))
        #expect(settings.maxQueueSize == 100 && settings.scheduleDelayMilliseconds == 200)

        let signalSpecific = try TraceExportSettings.resolve(
            file: nil, instanceID: "r1",
            environment: ["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://c:1/custom", "OTEL_EXPORTER_OTLP_ENDPOINT": "http://x"])
        #expect(signalSpecific?.endpoint == "http://c:1/custom")
    }

    @Test func offUnlessSomethingNamesACollector() throws {
        #expect(try TraceExportSettings.resolve(file: nil, instanceID: "r", environment: [:]) == nil)
        let file = TraceExportSettings.FileSettings(endpoint: nil, serviceName: nil, sampleRatio: 1)
        #expect(
            try TraceExportSettings.resolve(file: file, instanceID: "r", environment: ["OTEL_SDK_DISABLED": "true"]) == nil)
        #expect(
            try TraceExportSettings.resolve(file: file, instanceID: "r", environment: [:])?.endpoint
                == "http://localhost:4318/v1/traces")
    }

    @Test func whatCannotBeHonouredIsSaidAndTheDefaultUsed() throws {
        let file = TraceExportSettings.FileSettings(endpoint: "http://c:4318", serviceName: nil, sampleRatio: 0.5)
        let grpc = try #require(
            try TraceExportSettings.resolve(file: file, instanceID: "r", environment: ["OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"]))
        #expect(grpc.warnings.count == 1 && grpc.endpoint == "http://c:4318/v1/traces")
        for environment in [
            ["OTEL_TRACES_SAMPLER": "jaeger_remote"], ["OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "2"],
        ] {
            let settings = try #require(try TraceExportSettings.resolve(file: file, instanceID: "r", environment: environment))
            #expect(settings.warnings.count == 1)
            #expect(settings.sampling == .init(ratio: 0.5, followsParent: true))
        }
        #expect(throws: TraceExportSettings.Problem.self) {
            try TraceExportSettings.resolve(file: file, instanceID: "r", environment: ["OTEL_BSP_MAX_QUEUE_SIZE": "many"])
        }
        let off = try TraceExportSettings.resolve(file: file, instanceID: "r", environment: ["OTEL_TRACES_EXPORTER": "none"])
        #expect(off == nil)
        let alwaysOff = try TraceExportSettings.resolve(
            file: file, instanceID: "r", environment: ["OTEL_TRACES_SAMPLER": "always_off"])
        #expect(alwaysOff?.tailRule == false)
        #expect(
            TraceExportSettings.withoutCredentials("https://u:p@c.example:4318/v1/traces") == "https://c.example:4318/v1/traces")
    }

    @Test func samplersAsOpenTelemetryNamesThem() throws {
        let cases: [(String, TraceExportSettings.Sampling)] = [
            ("always_on", .init(ratio: 1, followsParent: false)), ("always_off", .init(ratio: 0, followsParent: false)),
            ("parentbased_always_on", .init(ratio: 1, followsParent: true)),
            ("parentbased_always_off", .init(ratio: 0, followsParent: true)),
        ]
        for (name, expected) in cases {
            #expect(try TraceExportSettings.sampling(name, nil, 0.3) == expected, "\(name)")
        }
    }
}

struct DictionaryExtractor: Extractor {
    func extract(key: String, from carrier: [String: String]) -> String? { carrier[key] }
}

struct DictionaryInjector: Injector {
    func inject(_ value: String, forKey key: String, into carrier: inout [String: String]) { carrier[key] = value }
}
