/// Byte classes of JSON text (RFC 8259), shared by the gateway's JSON readers. Switches, not
/// sets or array literals: these run for every byte of every request and response body.
enum JSONSyntax {
    static func isWhitespace(_ byte: UInt8) -> Bool {
        switch byte {
        case 0x20, 0x09, 0x0A, 0x0D: true
        default: false
        }
    }

    /// Whitespace or a character that ends a number or literal inside a container.
    static func endsScalar(_ byte: UInt8) -> Bool {
        switch byte {
        case 0x20, 0x09, 0x0A, 0x0D, UInt8(ascii: ","), UInt8(ascii: "}"), UInt8(ascii: "]"): true
        default: false
        }
    }
}
