import Foundation
import HTTPTypes
import SwitchyardCore
import Synchronization
import Telemetry

/// Which requests are traced at all, decided before any span exists: a request whose client
/// sent a valid `traceparent` follows its sampled flag (`followsParent`, OpenTelemetry's
/// parent-based samplers); otherwise it is kept at random at `ratio`.
/// A request not kept makes no span; the client's `traceparent`, if valid, goes to the upstream
/// unchanged so its trace still continues there. An invalid `traceparent` (or `tracestate`) is
/// ignored, as W3C Trace Context asks, and never reaches the propagator.
final class TraceSampler: Sendable {
    private let threshold: UInt64
    private let followsParent: Bool
    private let draws: Atomic<UInt64>

    init(ratio: Double, followsParent: Bool = true) {
        self.followsParent = followsParent
        let ratio = min(1, max(0, ratio))
        threshold = ratio >= 1 ? .max : UInt64(ratio * Double(UInt64.max))
        draws = Atomic(UInt64.random(in: 0...UInt64.max))
    }

    /// A client's trace context, checked: `traceparent` and, if well formed, `tracestate`.
    struct Parent: Sendable {
        let headers: [(String, String)]
        /// Its fields, read once (`SpanIdentity.parse`), marked remote.
        let identity: SpanIdentity
        var sampled: Bool { identity.sampled }
        /// The trace's id (32 lowercase hex digits).
        var traceID: String { TraceSampler.traceID(ofTraceparent: headers[0].1) }
    }

    enum Decision {
        case trace(parent: Parent?)
        /// Not traced; the client's trace context (if it sent one) goes to the upstream unchanged.
        case skip(parent: Parent?)
    }

    func decide(_ headers: HTTPFields) -> Decision {
        let parent = Self.parent(headers)
        if let parent, followsParent {
            return parent.sampled ? .trace(parent: parent) : .skip(parent: parent)
        }
        if threshold == .max { return .trace(parent: parent) }
        if threshold == 0 { return .skip(parent: parent) }
        let draw = SplitMix64.mix(draws.wrappingAdd(0x9E37_79B9_7F4A_7C15, ordering: .relaxed).newValue)
        return draw <= threshold ? .trace(parent: parent) : .skip(parent: parent)
    }

    /// The trace id of a well-formed `traceparent` (`00-<trace id>-<parent id>-<flags>`), cut
    /// from its bytes (all ASCII).
    static func traceID(ofTraceparent value: String) -> String {
        String(decoding: value.utf8.dropFirst(3).prefix(32), as: UTF8.self)
    }

    /// The span (parent) id of a well-formed `traceparent`.
    static func spanID(ofTraceparent value: String) -> String {
        String(decoding: value.utf8.dropFirst(36).prefix(16), as: UTF8.self)
    }

    /// `00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>`, lowercase, ids not all zero. A
    /// later version (not `ff`) is read as W3C asks: its version-00 fields, with anything after
    /// them behind a `-`; it is passed on as version 00, the one this gateway writes.
    static func parent(_ headers: HTTPFields) -> Parent? {
        guard let value = headers[.traceparent] else { return nil }
        let bytes = Array(value.utf8)
        guard bytes.count >= 55, isLowerHex(bytes[0]), isLowerHex(bytes[1]),
            [2, 35, 52].allSatisfy({ bytes[$0] == UInt8(ascii: "-") })
        else { return nil }
        let isVersion00 = bytes[0] == UInt8(ascii: "0") && bytes[1] == UInt8(ascii: "0")
        if isVersion00 {
            guard bytes.count == 55 else { return nil }
        } else {
            guard !(bytes[0] == UInt8(ascii: "f") && bytes[1] == UInt8(ascii: "f")),
                bytes.count == 55 || bytes[55] == UInt8(ascii: "-")
            else { return nil }
        }
        let traceparent = isVersion00 ? value : "00" + String(decoding: bytes[2..<55], as: UTF8.self)
        let state = headers[.tracestate].flatMap { isTraceState($0) ? $0 : nil }
        // The ids and flags (lowercase hex, ids not all zero) are checked by the one parser.
        guard var identity = SpanIdentity.parse(traceparent: traceparent, traceState: state) else { return nil }
        identity.isRemote = true
        var fields = [("traceparent", traceparent)]
        if let state { fields.append(("tracestate", state)) }
        return Parent(headers: fields, identity: identity)
    }

    private static func isLowerHex(_ byte: UInt8) -> Bool {
        (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) || (UInt8(ascii: "a")...UInt8(ascii: "f")).contains(byte)
    }

    /// At most 32 `key=value` members, a key of lowercase letters, digits and `_-*/@`, a value of
    /// printable ASCII without `,` and `=`.
    private static func isTraceState(_ value: String) -> Bool {
        guard value.utf8.count <= 512 else { return false }
        let members = value.split(separator: ",", omittingEmptySubsequences: true)
        guard (1...32).contains(members.count) else { return false }
        return members.allSatisfy { member in
            let parts = member.trimmingCharacters(in: .whitespaces).split(separator: "=", maxSplits: 1)
            guard parts.count == 2, let key = parts.first, let body = parts.last, !key.isEmpty, !body.isEmpty else {
                return false
            }
            let keyOK = key.utf8.allSatisfy { byte in
                isLowerHex(byte) || (UInt8(ascii: "g")...UInt8(ascii: "z")).contains(byte) || "_-*/@".utf8.contains(byte)
            }
            let bodyOK = body.utf8.allSatisfy { (0x20...0x7E).contains($0) && $0 != UInt8(ascii: ",") && $0 != UInt8(ascii: "=") }
            return keyOK && bodyOK
        }
    }
}
