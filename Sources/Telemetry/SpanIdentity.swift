import SwitchyardCore
import Synchronization
import Tracing

#if canImport(Glibc)
    import Glibc
#else
    import Darwin
#endif

/// Where a span sits in its trace: the W3C trace id, its own id, and the vendor state carried
/// along. Kept in the span's `InstrumentationContext`, so children and propagation find it.
public struct SpanIdentity: Sendable, Hashable {
    public var traceIDHigh: UInt64
    public var traceIDLow: UInt64
    public var spanID: UInt64
    /// The caller's `tracestate`, passed on unchanged.
    public var traceState: String?
    /// Whether the trace is recorded (the `sampled` flag of `traceparent`).
    public var sampled: Bool
    /// Read from another process's `traceparent`, not started here.
    public var isRemote = false

    /// A new trace's first span, its ids never all zero. Ids come from the system's generator
    /// (`TraceIDSource`): a response shows one, and ids one could predict from it would let a
    /// tenant add its spans and records to another tenant's trace.
    static func newTrace() -> SpanIdentity {
        var high = TraceIDSource.next()
        let low = TraceIDSource.next()
        if high == 0 && low == 0 { high = 1 }
        return SpanIdentity(traceIDHigh: high, traceIDLow: low, spanID: newSpanID(), traceState: nil, sampled: true)
    }

    /// A child of `self`: same trace, a new span id.
    func child() -> SpanIdentity {
        SpanIdentity(
            traceIDHigh: traceIDHigh, traceIDLow: traceIDLow, spanID: Self.newSpanID(), traceState: traceState,
            sampled: true)
    }

    static func newSpanID() -> UInt64 {
        let id = TraceIDSource.next()
        return id == 0 ? 1 : id
    }

    /// The trace id as 32 lowercase hex digits.
    public var traceIDHex: String { Hex.fixed(traceIDHigh) + Hex.fixed(traceIDLow) }

    /// `traceparent` for this span: `00-<trace id>-<span id>-<flags>`, written in one string.
    public var traceparent: String {
        String(unsafeUninitializedCapacity: 55) { buffer in
            let dash = UInt8(ascii: "-")
            buffer[0] = UInt8(ascii: "0")
            buffer[1] = UInt8(ascii: "0")
            buffer[2] = dash
            Hex.write(traceIDHigh, into: buffer, at: 3)
            Hex.write(traceIDLow, into: buffer, at: 19)
            buffer[35] = dash
            Hex.write(spanID, into: buffer, at: 36)
            buffer[52] = dash
            buffer[53] = UInt8(ascii: "0")
            buffer[54] = sampled ? UInt8(ascii: "1") : UInt8(ascii: "0")
            return 55
        }
    }

    /// A checked `traceparent`'s fields; nil for anything that is not version 00 with valid,
    /// non-zero ids.
    public static func parse(traceparent value: String, traceState: String?) -> SpanIdentity? {
        let bytes = Array(value.utf8)
        guard bytes.count == 55, bytes[0] == UInt8(ascii: "0"), bytes[1] == UInt8(ascii: "0"), bytes[2] == UInt8(ascii: "-"),
            bytes[35] == UInt8(ascii: "-"), bytes[52] == UInt8(ascii: "-"),
            let high = Hex.uint64(bytes[3..<19]), let low = Hex.uint64(bytes[19..<35]),
            let span = Hex.uint64(bytes[36..<52]), let flags = Hex.uint64(bytes[53..<55]),
            high != 0 || low != 0, span != 0
        else { return nil }
        return SpanIdentity(
            traceIDHigh: high, traceIDLow: low, spanID: span, traceState: traceState, sampled: flags & 1 == 1)
    }
}

/// Random numbers for trace and span ids from the system's generator (`getrandom`), drawn 64 at
/// a time: one system call per ~20 traced requests instead of three per request.
enum TraceIDSource {
    private static let pool = Mutex<(numbers: [UInt64], next: Int)>(([], 0))

    static func next() -> UInt64 {
        pool.withLock { pool in
            if pool.next == pool.numbers.count {
                // One call for 512 ids: the standard generator makes a system call per number.
                var numbers = [UInt64](repeating: 0, count: 512)
                Self.fill(&numbers)
                pool.numbers = numbers
                pool.next = 0
            }
            defer { pool.next += 1 }
            return pool.numbers[pool.next]
        }
    }

    /// The kernel's random source, opened once (the standard generator makes a system call per
    /// number; one read of 4 KB serves 512 ids).
    private static let urandom: Int32 = open("/dev/urandom", O_RDONLY | O_CLOEXEC)

    /// `numbers` from the kernel's random source, in as few reads as it takes.
    private static func fill(_ numbers: inout [UInt64]) {
        numbers.withUnsafeMutableBytes { bytes in
            var filled = 0
            while urandom >= 0, filled < bytes.count {
                let got = read(urandom, bytes.baseAddress! + filled, bytes.count - filled)
                if got > 0 { filled += got } else if got < 0 && errno == EINTR { continue } else { break }
            }
            if filled < bytes.count {
                // Never left predictable: the standard generator fills what the reads did not.
                var generator = SystemRandomNumberGenerator()
                for index in filled..<bytes.count { bytes[index] = UInt8(truncatingIfNeeded: generator.next()) }
            }
        }
    }
}

/// The key under which a span's identity travels in its context.
enum SpanIdentityKey: InstrumentationContextKey {
    typealias Value = SpanIdentity
}

extension Hex {
    /// 16 lowercase hex digits, zero-padded.
    static func fixed(_ value: UInt64) -> String {
        String(unsafeUninitializedCapacity: 16) { buffer in
            write(value, into: buffer, at: 0)
            return 16
        }
    }

    /// `value` as 16 lowercase hex digits into `buffer` from `offset`.
    static func write(_ value: UInt64, into buffer: UnsafeMutableBufferPointer<UInt8>, at offset: Int) {
        for index in 0..<16 {
            let digit = UInt8((value >> UInt64(60 - 4 * index)) & 0xF)
            buffer[offset + index] = digit < 10 ? UInt8(ascii: "0") + digit : UInt8(ascii: "a") + digit - 10
        }
    }

    /// Lowercase hex digits (at most 16) as a number; nil for anything else.
    static func uint64(_ digits: ArraySlice<UInt8>) -> UInt64? {
        guard !digits.isEmpty, digits.count <= 16 else { return nil }
        var value: UInt64 = 0
        for byte in digits {
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            default: return nil
            }
            value = value << 4 | UInt64(digit)
        }
        return value
    }
}
