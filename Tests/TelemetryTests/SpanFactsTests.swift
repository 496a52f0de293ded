import Testing
import Tracing

@testable import Telemetry

/// Facts written at export are the same protobuf as the same attributes given as a list: the
/// e2e receiver, which decodes the list's form with the official classes, vouches for both.
@Suite struct SpanFactsTests {
    struct Sample: SpanFacts {
        func write(to sink: inout SpanAttributeWriter) {
            sink.add("switchyard.tenant", "acme")
            sink.add("gen_ai.usage.input_tokens", Int64(-9))  // a ten-byte varint
            sink.add("gen_ai.usage.output_tokens", Int64(0))
            sink.add("gen_ai.usage.cache_read.input_tokens", Int64(300))
            sink.add("switchyard.run.step", "")
            sink.add(String(repeating: "k", count: 60), String(repeating: "v", count: 60))  // 127 bytes in all
            sink.add(String(repeating: "k", count: 60), String(repeating: "v", count: 62))  // 128: the long way
            sink.add("é", String(repeating: "ü", count: 40))  // bytes, not characters, count
            sink.add(String(repeating: "n", count: 100), Int64(1) << 62)
            sink.add("gen_ai.request.temperature", 0.25)
            sink.add("switchyard.usage_estimated", true)
            sink.add("gen_ai.response.finish_reasons", ["stop", "length"])
            sink.add("switchyard.cost", String(repeating: "9", count: 200))  // a length past one byte
        }
    }

    func span(listed: [(String, SpanAttribute)], facts: (any SpanFacts)?) -> FinishedSpan {
        let identity = SpanIdentity(traceIDHigh: 1, traceIDLow: 2, spanID: 3, traceState: nil, sampled: true)
        return FinishedSpan(
            identity: identity, parentSpanID: nil, name: "chat", kind: .server, startNanos: 1, endNanos: 2,
            attributes: [:], listed: listed, facts: facts, events: [], status: nil)
    }

    @Test func factsEncodeAsTheirAttributeListDoes() {
        var list = SpanAttributeWriter.listing()
        Sample().write(to: &list)
        let pairs = list.pairs ?? []
        #expect(pairs.count == 13)
        let asList = OTLPTraceEncoder(resource: []).encode([span(listed: pairs, facts: nil)])
        let asFacts = OTLPTraceEncoder(resource: []).encode([span(listed: [], facts: Sample())])
        #expect(asFacts == asList)
        // Listed attributes come first, then the facts.
        let both = OTLPTraceEncoder(resource: []).encode([
            span(listed: [("first", .string("x"))], facts: Sample())
        ])
        let first = both.firstRange(of: Array("first".utf8))
        let tenant = both.firstRange(of: Array("switchyard.tenant".utf8))
        #expect(first != nil && tenant != nil && first!.lowerBound < tenant!.lowerBound)
    }
}
