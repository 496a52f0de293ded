/// Random identifiers from the system's cryptographically secure generator.
public enum RandomIdentifier {
    static let base62 = Array("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz".utf8)
    static let lowercase = Array("0123456789abcdefghijklmnopqrstuvwxyz".utf8)

    /// `count` characters of [0-9A-Za-z]; 40 characters carry about 238 bits.
    public static func base62(count: Int) -> String { string(count: count, alphabet: base62) }

    /// `count` characters of [0-9a-z], for ids people read and type.
    public static func lowercase(count: Int) -> String { string(count: count, alphabet: lowercase) }

    /// A request id: sortable by creation time (hex microseconds), then 12 random characters.
    public static func requestID(now: UnixMicros = .now()) -> String {
        let time = String(UInt64(max(0, now.value)), radix: 16)
        return "req_" + String(repeating: "0", count: max(0, 14 - time.count)) + time + lowercase(count: 12)
    }

    /// Uniform characters by rejection sampling over random bytes taken eight at a time (a
    /// generator call per character was a system call per character, on every request).
    static func string(count: Int, alphabet: [UInt8]) -> String {
        let limit = 256 - 256 % alphabet.count  // bytes at or above this would bias the result
        var output: [UInt8] = []
        output.reserveCapacity(count)
        while output.count < count {
            for byte in randomBytes(count * 2) where Int(byte) < limit && output.count < count {
                output.append(alphabet[Int(byte) % alphabet.count])
            }
        }
        return String(decoding: output, as: UTF8.self)
    }

    static func randomBytes(_ count: Int) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        // Eight bytes per call of the system generator (getrandom on Linux).
        var generator = SystemRandomNumberGenerator()
        var index = 0
        while index < count {
            var word = generator.next()
            for _ in 0..<8 where index < count {
                bytes[index] = UInt8(truncatingIfNeeded: word)
                word >>= 8
                index += 1
            }
        }
        return bytes
    }
}
