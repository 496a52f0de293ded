import HTTPWire
import NIOCore

/// An upstream's HTTP/1.1 response read from bytes as they arrive: the head (only what the
/// gateway uses of it), then the body in pieces that share the received buffers, then the end.
///
/// Why our own: the gateway forwards bytes and needs four headers. NIO's general decoder built
/// every header as strings and passed each part through two more handlers, on every request.
/// Framing follows RFC 9112 §6.3: no body for 1xx/204/304, chunked when it is the last transfer
/// coding, else Content-Length, else until the connection closes. Anything malformed fails the
/// exchange (and the connection is not reused).
struct UpstreamResponseParser {
    struct Head: Sendable, Equatable {
        var status: Int
        var contentType: String?
        var retryAfter: String?
        /// Whether the connection may carry another request afterwards.
        var keepAlive: Bool
    }

    enum Part: Equatable {
        case head(Head)
        case body(ByteBuffer)
        case end
    }

    static let maxHeadBytes = 64 * 1024
    static let maxChunkLineBytes = 4096

    enum State: Equatable {
        case head
        case fixedBody(remaining: Int)
        case chunkSize
        case chunkData(remaining: Int)
        case chunkDataEnd
        case trailers
        case untilClose
        case done
    }

    private var state = State.head
    private var buffered: ByteBuffer?

    /// Takes newly arrived bytes and hands over the parts they complete, in order.
    mutating func feed(_ bytes: ByteBuffer, _ deliver: (Part) -> Void) throws(UpstreamFailure) {
        if var pending = buffered, pending.readableBytes > 0 {
            var incoming = bytes
            pending.writeBuffer(&incoming)
            buffered = nil
            try parse(&pending, deliver)
            if pending.readableBytes > 0 { buffered = pending }
        } else {
            var incoming = bytes
            buffered = nil
            try parse(&incoming, deliver)
            if incoming.readableBytes > 0 { buffered = incoming }
        }
    }

    /// The connection closed: the end of a body that runs until then; for anything else, the
    /// response was cut short.
    mutating func inputClosed(_ deliver: (Part) -> Void) throws(UpstreamFailure) {
        switch state {
        case .untilClose:
            state = .done
            deliver(.end)
        case .done: return
        default: throw Self.malformed("the connection closed before the response was complete")
        }
    }

    private mutating func parse(_ buffer: inout ByteBuffer, _ deliver: (Part) -> Void) throws(UpstreamFailure) {
        while true {
            switch state {
            case .head:
                guard let head = try readHead(&buffer) else { return }
                guard let framing = head.framing else { continue }  // informational (1xx): the real head follows
                deliver(.head(head.head))
                state = framing
                if state == .done { deliver(.end) }
            case .fixedBody(let remaining):
                guard buffer.readableBytes > 0 else { return }
                let piece = buffer.readSlice(length: min(remaining, buffer.readableBytes))!
                deliver(.body(piece))
                if remaining == piece.readableBytes {
                    state = .done
                    deliver(.end)
                } else {
                    state = .fixedBody(remaining: remaining - piece.readableBytes)
                }
            case .chunkSize:
                guard let line = try readLine(&buffer, limit: Self.maxChunkLineBytes) else { return }
                let size = try Self.chunkSize(line)
                state = size == 0 ? .trailers : .chunkData(remaining: size)
            case .chunkData(let remaining):
                guard buffer.readableBytes > 0 else { return }
                let piece = buffer.readSlice(length: min(remaining, buffer.readableBytes))!
                deliver(.body(piece))
                state = remaining == piece.readableBytes ? .chunkDataEnd : .chunkData(remaining: remaining - piece.readableBytes)
            case .chunkDataEnd:
                guard let line = try readLine(&buffer, limit: 2) else { return }
                guard line.isEmpty else { throw Self.malformed("chunk data longer than its size") }
                state = .chunkSize
            case .trailers:
                guard let line = try readLine(&buffer, limit: Self.maxHeadBytes) else { return }
                if line.isEmpty {
                    state = .done
                    deliver(.end)
                }
            case .untilClose:
                guard buffer.readableBytes > 0 else { return }
                deliver(.body(buffer.readSlice(length: buffer.readableBytes)!))
                return
            case .done:
                // One request at a time: bytes past the end were never asked for.
                guard buffer.readableBytes == 0 else { throw Self.malformed("data after the end of the response") }
                return
            }
        }
    }

    // MARK: Head

    private struct ParsedHead {
        var head: Head
        /// nil for an informational response.
        var framing: State?
    }

    private mutating func readHead(_ buffer: inout ByteBuffer) throws(UpstreamFailure) -> ParsedHead? {
        guard let end = HTTPSyntax.headEnd(in: buffer) else {
            if buffer.readableBytes > Self.maxHeadBytes { throw Self.malformed("response head larger than 64 KiB") }
            return nil
        }
        guard end <= Self.maxHeadBytes else { throw Self.malformed("response head larger than 64 KiB") }
        let text = buffer.readSlice(length: end)!
        return try text.withUnsafeReadableBytes { bytes throws(UpstreamFailure) in
            try Self.parseHead(UnsafeRawBufferPointer(rebasing: bytes.dropLast(4)))
        }
    }

    /// The head without its final blank line, read in place.
    private static func parseHead(_ bytes: UnsafeRawBufferPointer) throws(UpstreamFailure) -> ParsedHead {
        // Lines end with LF (CRLF with the CR dropped); read in place, one at a time.
        var lineStart = 0
        func nextLine() -> Slice<UnsafeRawBufferPointer>? {
            guard lineStart <= bytes.count else { return nil }
            let end = bytes[lineStart...].firstIndex(of: 0x0A) ?? bytes.count
            var line = bytes[lineStart..<end]
            if line.last == 0x0D { line = line.dropLast() }
            lineStart = end + 1
            return line
        }
        // Status line: HTTP/1.x SP 3DIGIT [SP reason]
        let status = nextLine()!
        guard status.count >= 12, status.starts(with: "HTTP/1.".utf8), let minor = status.dropFirst(7).first,
            minor == UInt8(ascii: "0") || minor == UInt8(ascii: "1"), status[status.startIndex + 8] == 0x20
        else { throw malformed("not an HTTP/1.x status line") }
        let digits = status[(status.startIndex + 9)..<(status.startIndex + 12)]
        guard digits.allSatisfy({ (0x30...0x39).contains($0) }), status.count == 12 || status[status.startIndex + 12] == 0x20
        else { throw malformed("not an HTTP/1.x status line") }
        let code = digits.reduce(0) { $0 * 10 + Int($1 - 0x30) }

        var head = Head(status: code, contentType: nil, retryAfter: nil, keepAlive: minor == UInt8(ascii: "1"))
        var contentLength: Int?
        var chunked = false
        var otherCoding = false
        while let line = nextLine() {
            guard let colon = line.firstIndex(of: UInt8(ascii: ":")), colon > line.startIndex,
                line.first != 0x20, line.first != 0x09
            else { throw malformed("a header line without a name (or folded)") }
            let name = line[..<colon]
            guard name.allSatisfy(HTTPSyntax.isTokenByte) else { throw malformed("an invalid header name") }
            let value = HTTPSyntax.trimmed(line[(colon + 1)...])
            guard HTTPSyntax.isFieldValue(value) else { throw malformed("a control character in a header") }
            if HTTPSyntax.isName(name, "content-length") {
                try HTTPSyntax.forEachElement(of: value) { part throws(UpstreamFailure) in
                    guard let length = HTTPSyntax.decimalLength(part) else { throw malformed("an invalid Content-Length") }
                    if let contentLength, contentLength != length { throw malformed("conflicting Content-Length values") }
                    contentLength = length
                }
            } else if HTTPSyntax.isName(name, "transfer-encoding") {
                HTTPSyntax.forEachElement(of: value) { coding in
                    guard !coding.isEmpty else { return }
                    // Chunked must be the last coding; anything after it makes the length unknowable.
                    if HTTPSyntax.isName(coding, "chunked") {
                        chunked = true
                        otherCoding = false
                    } else {
                        otherCoding = true
                    }
                }
            } else if HTTPSyntax.isName(name, "connection") {
                HTTPSyntax.forEachElement(of: value) { token in
                    if HTTPSyntax.isName(token, "close") { head.keepAlive = false }
                    if HTTPSyntax.isName(token, "keep-alive") { head.keepAlive = true }
                }
            } else if HTTPSyntax.isName(name, "content-type") {
                head.contentType = String(decoding: value, as: UTF8.self)
            } else if HTTPSyntax.isName(name, "retry-after") {
                head.retryAfter = String(decoding: value, as: UTF8.self)
            }
        }
        if code == 101 { throw malformed("an upgrade the gateway did not ask for") }
        if (100..<200).contains(code) { return ParsedHead(head: head, framing: nil) }
        if code == 204 || code == 304 { return ParsedHead(head: head, framing: .done) }
        if chunked && !otherCoding {
            // With both, the transfer coding wins and the connection must not be reused (RFC 9112 §6.3).
            if contentLength != nil { head.keepAlive = false }
            return ParsedHead(head: head, framing: .chunkSize)
        }
        if chunked || otherCoding {
            head.keepAlive = false
            return ParsedHead(head: head, framing: .untilClose)
        }
        if let contentLength {
            return ParsedHead(head: head, framing: contentLength == 0 ? .done : .fixedBody(remaining: contentLength))
        }
        head.keepAlive = false
        return ParsedHead(head: head, framing: .untilClose)
    }

    // MARK: Chunks

    /// A line's bytes without its CRLF (a bare LF is accepted), or nil until it is complete.
    private func readLine(_ buffer: inout ByteBuffer, limit: Int) throws(UpstreamFailure) -> [UInt8]? {
        let newline = buffer.withUnsafeReadableBytes { $0.firstIndex(of: 0x0A) }
        guard let newline else {
            if buffer.readableBytes > limit + 2 { throw Self.malformed("a line longer than \(limit) bytes") }
            return nil
        }
        guard newline <= limit + 1 else { throw Self.malformed("a line longer than \(limit) bytes") }
        var line = buffer.readBytes(length: newline + 1)!
        line.removeLast()
        if line.last == 0x0D { line.removeLast() }
        return line
    }

    private static func chunkSize(_ line: [UInt8]) throws(UpstreamFailure) -> Int {
        guard let size = HTTPSyntax.hexLength(HTTPSyntax.trimmed(line.prefix { $0 != UInt8(ascii: ";") }[...])) else {
            throw malformed("an invalid chunk size")
        }
        return size
    }

    static func malformed(_ reason: String) -> UpstreamFailure {
        UpstreamFailure(.upstreamError, "malformed response from upstream: \(reason)")
    }
}
