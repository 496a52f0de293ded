/// Protocol Buffers' binary encoding, the few wire types OTLP needs: varints, 64- and 32-bit
/// fixed fields, and length-delimited strings, bytes and nested messages.
struct ProtobufWriter {
    private(set) var bytes: [UInt8] = []

    private enum WireType: UInt64 {
        case varint = 0
        case fixed64 = 1
        case lengthDelimited = 2
        case fixed32 = 5
    }

    private mutating func tag(_ field: Int, _ type: WireType) {
        rawVarint(UInt64(field) << 3 | type.rawValue)
    }

    private mutating func rawVarint(_ value: UInt64) {
        var value = value
        while value >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: value) | 0x80)
            value >>= 7
        }
        bytes.append(UInt8(value))
    }

    mutating func varint(_ field: Int, _ value: UInt64) {
        tag(field, .varint)
        rawVarint(value)
    }

    /// An `int64`: two's complement as a varint (ten bytes when negative), as protobuf does.
    mutating func signed(_ field: Int, _ value: Int64) {
        varint(field, UInt64(bitPattern: value))
    }

    /// Room for `count` more bytes (a batch's estimate), so the buffer does not grow by doubling.
    mutating func reserveCapacity(_ count: Int) {
        bytes.reserveCapacity(bytes.count + count)
    }

    // Fixed-width values go in with one append of their bytes, not one per byte.
    mutating func fixed64(_ field: Int, _ value: UInt64) {
        tag(field, .fixed64)
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }

    mutating func fixed32(_ field: Int, _ value: UInt32) {
        tag(field, .fixed32)
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }

    mutating func double(_ field: Int, _ value: Double) {
        fixed64(field, value.bitPattern)
    }

    mutating func string(_ field: Int, _ value: String) {
        tag(field, .lengthDelimited)
        var value = value
        // Contiguous UTF-8 (made so if it is not): one copy of its bytes.
        value.withUTF8 { text in
            rawVarint(UInt64(text.count))
            bytes.append(contentsOf: text)
        }
    }

    /// Bytes made of `words`, each written most significant byte first (trace and span ids).
    mutating func bytes(_ field: Int, bigEndian words: [UInt64]) {
        tag(field, .lengthDelimited)
        rawVarint(UInt64(words.count * 8))
        for word in words { withUnsafeBytes(of: word.bigEndian) { bytes.append(contentsOf: $0) } }
    }

    /// A packed `repeated fixed64` (or `repeated double`, as bit patterns): one length, then the
    /// values little-endian.
    mutating func packedFixed64(_ field: Int, _ values: [UInt64]) {
        tag(field, .lengthDelimited)
        rawVarint(UInt64(values.count * 8))
        for value in values { withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) } }
    }

    /// A nested message: written by `body` in place after a one-byte length, which grows (moving
    /// the message) only when the message passes 127 bytes: no buffer of its own per message.
    mutating func message(_ field: Int, _ body: (inout ProtobufWriter) -> Void) {
        tag(field, .lengthDelimited)
        let lengthAt = bytes.count
        bytes.append(0)
        body(&self)
        let length = bytes.count - lengthAt - 1
        if length < 0x80 {
            bytes[lengthAt] = UInt8(length)
            return
        }
        var prefix = ProtobufWriter()
        prefix.rawVarint(UInt64(length))
        bytes.replaceSubrange(lengthAt..<(lengthAt + 1), with: prefix.bytes)
    }
}
