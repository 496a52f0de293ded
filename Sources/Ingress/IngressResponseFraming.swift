import HTTPTypes
import NIOCore
import NIOHTTP1

/// What the gateway knows, when it answers, about the request it answers.
struct IngressExchange: Equatable {
    /// Whether the client lets the connection carry another request afterwards.
    var keepAlive: Bool
    var isHTTP10: Bool
    /// A response to HEAD has a head only.
    var isHeadRequest: Bool
}

/// How one response is framed on the wire (RFC 9112 §6), decided when its head is written: by
/// Content-Length when the head has one, else in chunks for HTTP/1.1 and until the connection
/// closes for HTTP/1.0. The framing headers (Content-Length for bodiless statuses,
/// Transfer-Encoding, Connection) are the gateway's to write, whatever a handler set.
struct IngressResponseFraming: Equatable {
    enum Body: Equatable {
        /// 1xx/204/304 or a response to HEAD.
        case none
        case fixedLength
        case chunked
        case untilClose
    }

    let body: Body
    /// Whether the connection carries another request after this response.
    let keepAlive: Bool

    /// Writes the head of `response` into `buffer` and returns how its body is framed.
    static func writeHead(
        _ response: HTTPResponse, answering exchange: IngressExchange, into buffer: inout ByteBuffer
    ) -> IngressResponseFraming {
        let status = response.status
        let mayHaveBody = status.kind != .informational && status.code != 204 && status.code != 304
        buffer.writeStaticString("HTTP/1.1 ")
        buffer.writeInteger(UInt8(ascii: "0") + UInt8(status.code / 100 % 10))
        buffer.writeInteger(UInt8(ascii: "0") + UInt8(status.code / 10 % 10))
        buffer.writeInteger(UInt8(ascii: "0") + UInt8(status.code % 10))
        buffer.writeInteger(UInt8(ascii: " "))
        buffer.writeString(status.reasonPhrase.isEmpty ? standardReason(status.code) : status.reasonPhrase)
        buffer.writeStaticString("\r\n")

        var keepAlive = exchange.keepAlive
        var hasLength = false
        for field in response.headerFields {
            // By length first, rather than comparing every name with three others.
            let name = field.name.canonicalName
            switch name.utf8.count {
            case 14 where name == "content-length":
                guard mayHaveBody else { continue }
                hasLength = true
            case 17 where name == "transfer-encoding":
                continue
            case 10 where name == "connection":
                if field.value.lowercased().contains("close") { keepAlive = false }
                continue
            default:
                break
            }
            writeField(field.name.rawName, field.value, into: &buffer)
        }

        let body: Body
        if !mayHaveBody || exchange.isHeadRequest {
            body = .none
        } else if hasLength {
            body = .fixedLength
        } else if !exchange.isHTTP10 {
            buffer.writeStaticString("transfer-encoding: chunked\r\n")
            body = .chunked
        } else {
            body = .untilClose
            keepAlive = false
        }
        if !keepAlive {
            buffer.writeStaticString("connection: close\r\n")
        } else if exchange.isHTTP10 {
            buffer.writeStaticString("connection: keep-alive\r\n")
        }
        buffer.writeStaticString("\r\n")
        return IngressResponseFraming(body: body, keepAlive: keepAlive)
    }

    /// `name: value` and its line end in one write: four writes a field, each checking the
    /// buffer's room and uniqueness, were most of the cost of a response head.
    private static func writeField(_ name: String, _ value: String, into buffer: inout ByteBuffer) {
        var (name, value) = (name, value)
        name.withUTF8 { name in
            value.withUTF8 { value in
                let length = name.count + value.count + 4
                buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: length) { out in
                    let base = out.baseAddress!
                    base.copyMemory(from: name.baseAddress!, byteCount: name.count)
                    base.storeBytes(of: UInt8(ascii: ":"), toByteOffset: name.count, as: UInt8.self)
                    base.storeBytes(of: UInt8(ascii: " "), toByteOffset: name.count + 1, as: UInt8.self)
                    if value.count > 0 {
                        (base + name.count + 2).copyMemory(from: value.baseAddress!, byteCount: value.count)
                    }
                    base.storeBytes(of: UInt8(ascii: "\r"), toByteOffset: length - 2, as: UInt8.self)
                    base.storeBytes(of: UInt8(ascii: "\n"), toByteOffset: length - 1, as: UInt8.self)
                    return length
                }
            }
        }
    }

    /// A body piece as it goes on the wire; nil when nothing is to be written (no body, or an
    /// empty piece, which in chunks would read as the end).
    func encode(_ piece: ByteBuffer, allocator: ByteBufferAllocator) -> ByteBuffer? {
        guard piece.readableBytes > 0 else { return nil }
        switch body {
        case .none: return nil
        case .fixedLength, .untilClose: return piece
        case .chunked:
            var chunk = allocator.buffer(capacity: piece.readableBytes + 20)
            chunk.writeString(String(piece.readableBytes, radix: 16))
            chunk.writeStaticString("\r\n")
            chunk.writeImmutableBuffer(piece)
            chunk.writeStaticString("\r\n")
            return chunk
        }
    }

    /// What ends the body on the wire: the last chunk, or nothing.
    var end: StaticString? {
        body == .chunked ? "0\r\n\r\n" : nil
    }

    /// The standard reason phrase for a status a handler created from a bare code (NIO's table).
    static func standardReason(_ code: Int) -> String {
        HTTPResponseStatus(statusCode: code).reasonPhrase
    }
}
