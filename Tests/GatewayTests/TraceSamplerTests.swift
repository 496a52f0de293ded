import HTTPTypes
import Testing

@testable import DataPlane

/// Which requests are traced: a client's sampled flag is followed, its unsampled context passes
/// through to the upstream, and new traces are kept at the ratio.
@Suite struct TraceSamplerTests {
    func headers(_ traceparent: String?, state: String? = nil) -> HTTPFields {
        var fields = HTTPFields()
        if let traceparent { fields[.traceparent] = traceparent }
        if let state { fields[.tracestate] = state }
        return fields
    }

    @Test func aClientsSampledTraceIsFollowedWhateverTheRatio() {
        let sampler = TraceSampler(ratio: 0)
        guard case .trace = sampler.decide(headers("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")) else {
            Issue.record("a sampled client trace was dropped")
            return
        }
    }

    @Test func aClientsUnsampledTraceGoesToTheUpstreamUnchanged() {
        let parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"
        guard case .skip(let passed?) = TraceSampler(ratio: 1).decide(headers(parent, state: "vendor=x")) else {
            Issue.record("an unsampled client trace was traced, or not passed through")
            return
        }
        #expect(passed.headers.map(\.0) == ["traceparent", "tracestate"])
        #expect(passed.headers.map(\.1) == [parent, "vendor=x"])
        #expect(passed.traceID == "4bf92f3577b34da6a3ce929d0e0e4736")
    }

    /// W3C: a later version is read by its version-00 fields (anything after them follows a `-`).
    @Test func aLaterVersionIsReadAsVersion00() {
        let later = "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-future"
        guard case .trace(let parent?) = TraceSampler(ratio: 0).decide(headers(later)) else {
            Issue.record("a later version's sampled parent was not followed")
            return
        }
        #expect(parent.headers[0].1 == "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
        #expect(parent.traceID == "4bf92f3577b34da6a3ce929d0e0e4736")
    }

    @Test func aMalformedTraceparentIsIgnoredAndABadTracestateDropped() {
        let malformed = [
            "x-01", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-later",
            "01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01", "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01,x",
        ]
        for value in malformed {
            guard case .skip(let passed) = TraceSampler(ratio: 0).decide(headers(value)) else {
                Issue.record("\(value) was followed")
                continue
            }
            #expect(passed == nil, "\(value) went to the upstream")
        }
        let valid = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        guard case .trace(let parent?) = TraceSampler(ratio: 0).decide(headers(valid, state: "bad state")) else {
            Issue.record("a valid sampled parent was not followed")
            return
        }
        #expect(parent.headers.map(\.0) == ["traceparent"])
    }

    @Test func newTracesAreKeptAtTheRatio() {
        for (ratio, low, high) in [(0.0, 0, 0), (1.0, 10_000, 10_000), (0.25, 2_300, 2_700)] {
            let sampler = TraceSampler(ratio: ratio)
            var kept = 0
            for _ in 0..<10_000 {
                if case .trace = sampler.decide(headers(nil)) { kept += 1 }
            }
            #expect((low...high).contains(kept), "ratio \(ratio): \(kept) of 10,000 kept")
        }
    }
}
