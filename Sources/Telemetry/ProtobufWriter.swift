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

    /// Bytes a varint of `value` takes.
    private static func varintSize(_ value: UInt64) -> Int {
        value == 0 ? 1 : (64 - value.leadingZeroBitCount + 6) / 7
    }

    /// A `KeyValue` (in `field`, under 16) with a short key and a string value (`AnyValue` field
    /// 1): written in one piece, every length one byte and known up front. Attributes are most of
    /// a span's bytes, and the general path (`message`, `string`) checked the buffer at every
    /// byte. False, with nothing written, when the whole would not be under 128 bytes.
    mutating func shortKeyValue(_ field: Int, key: String, string value: String) -> Bool {
        var (key, value) = (key, value)
        return key.withUTF8 { key in
            value.withUTF8 { value in
                shortKeyValue(field, key: key, valueTag: 0x0A, valueLength: value.count + 1) { out in
                    out[0] = UInt8(value.count)
                    _ = UnsafeMutableBufferPointer(rebasing: out[1...]).update(fromContentsOf: value)
                }
            }
        }
    }

    /// The same with an `int64` value (`AnyValue` field 3).
    mutating func shortKeyValue(_ field: Int, key: String, int value: Int64) -> Bool {
        var key = key
        let number = UInt64(bitPattern: value)
        return key.withUTF8 { key in
            shortKeyValue(field, key: key, valueTag: 0x18, valueLength: Self.varintSize(number)) { out in
                var rest = number
                var index = 0
                while rest >= 0x80 {
                    out[index] = UInt8(truncatingIfNeeded: rest) | 0x80
                    rest >>= 7
                    index += 1
                }
                out[index] = UInt8(rest)
            }
        }
    }

    /// `field` { 1: key, 2: AnyValue { valueTag, the `valueLength` bytes `writeValue` fills } }.
    private mutating func shortKeyValue(
        _ field: Int, key: UnsafeBufferPointer<UInt8>, valueTag: UInt8, valueLength: Int,
        writeValue: (UnsafeMutableBufferPointer<UInt8>) -> Void
    ) -> Bool {
        let anyValueLength = 1 + valueLength
        let keyValueLength = 2 + key.count + 2 + anyValueLength
        guard field < 16, keyValueLength < 0x80 else { return false }
        // Put together on the stack, then one copy into the buffer.
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 2 + keyValueLength) { out in
            out[0] = UInt8(field << 3 | 2)
            out[1] = UInt8(keyValueLength)
            out[2] = 0x0A  // KeyValue.key
            out[3] = UInt8(key.count)
            _ = UnsafeMutableBufferPointer(rebasing: out[4...]).update(fromContentsOf: key)
            var index = 4 + key.count
            out[index] = 0x12  // KeyValue.value
            out[index + 1] = UInt8(anyValueLength)
            out[index + 2] = valueTag
            index += 3
            writeValue(UnsafeMutableBufferPointer(rebasing: out[index...]))
            bytes.append(contentsOf: UnsafeBufferPointer(out))
        }
        return true
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
