#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Random identifiers: secrets from the system's cryptographically secure generator.
public enum RandomIdentifier {
    static let base62 = Array("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz".utf8)
    static let lowercase = Array("0123456789abcdefghijklmnopqrstuvwxyz".utf8)
    static let hexDigits = Array("0123456789abcdef".utf8)

    /// `count` characters of [0-9A-Za-z]; 40 characters carry about 238 bits.
    public static func base62(count: Int) -> String { string(count: count, alphabet: base62) }

    /// `count` characters of [0-9a-z], for ids people read and type.
    public static func lowercase(count: Int) -> String { string(count: count, alphabet: lowercase) }

    /// A request id: sortable by creation time (14 hex digits of microseconds), then 12 random
    /// characters (62 bits of `SharedRandom`: an id must be unique, not secret). Built in one
    /// buffer without a system call: this runs for every request.
    public static func requestID(now: UnixMicros = .now()) -> String {
        var id: [UInt8] = Array("req_".utf8)
        id.reserveCapacity(30)
        let micros = UInt64(max(0, now.value))
        for shift in stride(from: 52, through: 0, by: -4) {
            id.append(hexDigits[Int((micros >> UInt64(shift)) & 0xF)])
        }
        var random = SharedRandom.next()
        for _ in 0..<12 {
            id.append(lowercase[Int(random % 36)])
            random /= 36
        }
        return String(decoding: id, as: UTF8.self)
    }

    static func string(count: Int, alphabet: [UInt8]) -> String {
        var output: [UInt8] = []
        output.reserveCapacity(count)
        appendRandom(count, of: alphabet, to: &output)
        return String(decoding: output, as: UTF8.self)
    }

    /// Uniform characters by rejection sampling over random bytes, fetched in one call of the
    /// system generator per batch (a call per character was a system call per character).
    static func appendRandom(_ count: Int, of alphabet: [UInt8], to output: inout [UInt8]) {
        let limit = 256 - 256 % alphabet.count  // bytes at or above this would bias the result
        var needed = count
        while needed > 0 {
            for byte in randomBytes(needed + needed / 2 + 4) where Int(byte) < limit && needed > 0 {
                output.append(alphabet[Int(byte) % alphabet.count])
                needed -= 1
            }
        }
    }

    static func randomBytes(_ count: Int) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        // One call of the system's generator (getrandom underneath, glibc 2.36 and later).
        bytes.withUnsafeMutableBytes { buffer in
            guard let base = buffer.baseAddress else { return }
            arc4random_buf(base, count)
        }
        return bytes
    }
}
