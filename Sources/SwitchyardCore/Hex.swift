/// Lower-case hexadecimal, the one spelling of key hashes, audit hashes, MACs and key ids.
public enum Hex {
    /// `bytes` (`count` of them) as hex, written straight into the string by table lookup: key
    /// hashes are spelled on every request.
    public static func string(_ bytes: some Sequence<UInt8>, count: Int) -> String {
        String(unsafeUninitializedCapacity: count * 2) { hex in
            var index = 0
            for byte in bytes {
                hex[index] = digits[Int(byte >> 4)]
                hex[index + 1] = digits[Int(byte & 0x0F)]
                index += 2
            }
            return index
        }
    }

    public static func string(_ bytes: [UInt8]) -> String { string(bytes, count: bytes.count) }

    /// The bytes of lower-case hex text; nil for anything else.
    public static func bytes(_ hex: String) -> [UInt8]? {
        let text = Array(hex.utf8)
        guard text.count % 2 == 0 else { return nil }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.count / 2)
        var index = 0
        while index < text.count {
            guard let high = nibble(text[index]), let low = nibble(text[index + 1]) else { return nil }
            bytes.append(high << 4 | low)
            index += 2
        }
        return bytes
    }

    private static let digits = Array("0123456789abcdef".utf8)

    private static func nibble(_ digit: UInt8) -> UInt8? {
        switch digit {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): digit - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): digit - UInt8(ascii: "a") + 10
        default: nil
        }
    }
}
