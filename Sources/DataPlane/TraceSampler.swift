import HTTPTypes
import SwitchyardCore
import Synchronization

/// Which requests are traced at all, decided before any span exists: a request whose client
/// sent a `traceparent` follows its sampled flag; a new trace is kept at `ratio`. A request not
/// kept costs no span, no ID and no allocation; the client's `traceparent`, if any, goes to the
/// upstream unchanged so its trace still continues there.
final class TraceSampler: Sendable {
    private let threshold: UInt64
    private let draws: Atomic<UInt64>

    init(ratio: Double) {
        let ratio = min(1, max(0, ratio))
        threshold = ratio >= 1 ? .max : UInt64(ratio * Double(UInt64.max))
        draws = Atomic(UInt64.random(in: 0...UInt64.max))
    }

    enum Decision {
        case trace
        /// Not traced; the client's trace context (if it sent one) for the upstream.
        case skip(passThrough: [(String, String)])
    }

    func decide(_ headers: HTTPFields) -> Decision {
        if let parent = headers[.traceparent] {
            // version-traceid-parentid-flags: bit 0 of the flags is "sampled".
            if let flags = parent.split(separator: "-").last, let value = UInt8(flags, radix: 16), value & 1 == 1 {
                return .trace
            }
            var passThrough = [("traceparent", parent)]
            if let state = headers[.tracestate] { passThrough.append(("tracestate", state)) }
            return .skip(passThrough: passThrough)
        }
        if threshold == .max { return .trace }
        let draw = SplitMix64.mix(draws.wrappingAdd(0x9E37_79B9_7F4A_7C15, ordering: .relaxed).newValue)
        return draw <= threshold ? .trace : .skip(passThrough: [])
    }
}
