/// Random identifiers from the system's cryptographically secure generator.
public enum RandomIdentifier {
    static let base62 = Array("0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
    static let lowercase = Array("0123456789abcdefghijklmnopqrstuvwxyz")

    /// `count` characters of [0-9A-Za-z]; 40 characters carry about 238 bits.
    public static func base62(count: Int) -> String {
        var generator = SystemRandomNumberGenerator()
        return String((0..<count).map { _ in base62[Int.random(in: 0..<62, using: &generator)] })
    }

    /// `count` characters of [0-9a-z], for ids people read and type.
    public static func lowercase(count: Int) -> String {
        var generator = SystemRandomNumberGenerator()
        return String((0..<count).map { _ in lowercase[Int.random(in: 0..<36, using: &generator)] })
    }

    /// A request id: sortable by creation time (hex microseconds), then 12 random characters.
    public static func requestID(now: UnixMicros = .now()) -> String {
        let time = String(UInt64(max(0, now.value)), radix: 16)
        return "req_" + String(repeating: "0", count: max(0, 14 - time.count)) + time + lowercase(count: 12)
    }
}
