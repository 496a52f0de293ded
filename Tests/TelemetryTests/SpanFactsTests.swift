import Testing
import Tracing

@testable import Telemetry

/// Facts written at export are the same protobuf as the same attributes given as a list: the
/// e2e receiver, which decodes the list's form with the official classes, vouches for both.
@Suite struct SpanFactsTests {
    struct Sample: SpanFacts {
        func write<Sink: SpanAttributeSink>(to sink: inout Sink) {
            sink.add("switchyard.tenant", "acme")
            sink.add("gen_ai.usage.input_tokens", Int64(-9))
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
        var list = SpanAttributeList()
        Sample().write(to: &list)
        #expect(list.pairs.count == 6)
        let asList = OTLPTraceEncoder(resource: []).encode([span(listed: list.pairs, facts: nil)])
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
