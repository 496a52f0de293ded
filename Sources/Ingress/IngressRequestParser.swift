import HTTPTypes
import HTTPWire
import NIOCore

/// A client's HTTP/1.1 requests read from bytes as they arrive: a head, the body in pieces that
/// share the received buffers, then the end; then the next request.
///
/// Why our own: NIO's server pipeline parsed every header into strings twice (its `HTTPHeaders`,
/// then `HTTPFields`) and passed each part through four handlers; it was the largest single
/// cost of the ingress path after the kernel. This reader builds the `HTTPRequest` the handlers
/// use straight from the bytes.
///
/// Strict where leniency lets two parsers disagree about where a request ends (RFC 9112): lines
/// end with CRLF, no whitespace before a header's colon, no folded lines, one Host, Content-Length
/// and Transfer-Encoding never together, `chunked` the only transfer coding. Anything else is
/// refused with the status RFC 9112 names, and the connection is not used further.
///
/// Pulled, not pushed: `next()` hands over one part at a time, so a connection that is still
/// answering leaves a pipelined request's bytes here until it asks for them.
struct IngressRequestParser {
    struct Head {
        var request: HTTPRequest
        /// Whether the client lets the connection carry another request afterwards.
        var keepAlive: Bool
        /// HTTP/1.0: keep-alive must be said, and a body of unknown length ends with the connection.
        var isHTTP10: Bool
        /// The client waits for "100 Continue" before it sends the body.
        var expectsContinue: Bool
    }

    enum Part {
        case head(Head)
        case body(ByteBuffer)
        case end
    }

    static let maxHeadBytes = 64 * 1024
    static let maxFieldCount = 256
    static let maxChunkLineBytes = 4096

    private enum State {
        case head
        /// The head said there is no body: the end is next.
        case noBody
        case fixedBody(remaining: Int)
        case chunkSize
        case chunkData(remaining: Int)
        case chunkDataEnd
        case trailers(read: Int)
    }

    private var state = State.head
    private var buffered = ByteBuffer()
    /// A body announced larger than this is refused (413) as soon as the head is read, instead
    /// of after it has been sent (or waited for until the read timeout).
    private let maxBodyBytes: Int

    init(maxBodyBytes: Int = .max) {
        self.maxBodyBytes = maxBodyBytes
    }
    /// How far the search for the end of a head has looked, so a head trickling in byte by
    /// byte is scanned once, not once per byte.
    private var headScanned = 0

    /// Bytes received and not yet handed over.
    var bufferedBytes: Int { buffered.readableBytes }

    mutating func append(_ bytes: ByteBuffer) {
        if buffered.readableBytes == 0 {
            buffered = bytes
        } else {
            var bytes = bytes
            buffered.writeBuffer(&bytes)
        }
    }

    /// The next complete part, or nil until more bytes arrive. A thrown error is the answer the
    /// client gets before the connection closes.
    mutating func next() throws(IngressRefusal) -> Part? {
        switch state {
        case .head:
            guard let head = try readHead() else { return nil }
            return .head(head)
        case .noBody:
            state = .head
            return .end
        case .fixedBody(let remaining):
            guard let (piece, left) = bodyPiece(upTo: remaining) else { return nil }
            state = left == 0 ? .noBody : .fixedBody(remaining: left)
            return .body(piece)
        case .chunkSize:
            guard let line = try readLine(limit: Self.maxChunkLineBytes) else { return nil }
            // chunk-size [BWS ";" chunk-ext]: the extensions mean nothing to the gateway, but
            // anything else after the size is refused.
            let sizeEnd = line.firstIndex { $0 == UInt8(ascii: ";") || $0 == 0x20 || $0 == 0x09 } ?? line.endIndex
            let afterSize = line[sizeEnd...].drop { $0 == 0x20 || $0 == 0x09 }
            guard let size = HTTPSyntax.hexLength(line[..<sizeEnd]),
                afterSize.isEmpty || afterSize.first == UInt8(ascii: ";"), HTTPSyntax.isFieldValue(afterSize)
            else {
                throw Self.badRequest("The chunk size line '\(Self.printable(line))' is not valid.")
            }
            state = size == 0 ? .trailers(read: 0) : .chunkData(remaining: size)
            return try next()
        case .chunkData(let remaining):
            guard let (piece, left) = bodyPiece(upTo: remaining) else { return nil }
            state = left == 0 ? .chunkDataEnd : .chunkData(remaining: left)
            return .body(piece)
        case .chunkDataEnd:
            guard buffered.readableBytes >= 2 else { return nil }
            guard buffered.readableBytesView.starts(with: [0x0D, 0x0A]) else {
                throw Self.badRequest("A chunk is longer than its size says.")
            }
            buffered.moveReaderIndex(forwardBy: 2)
            state = .chunkSize
            return try next()
        case .trailers(let read):
            // Trailer fields are read and dropped: nothing in the gateway uses them.
            guard let line = try readLine(limit: Self.maxHeadBytes - read) else { return nil }
            guard !line.isEmpty else {
                state = .head
                return .end
            }
            state = .trailers(read: read + line.count + 2)
            return try next()
        }
    }

    /// Up to `remaining` body bytes of what has arrived (sharing its storage), and how many are
    /// still to come; nil when nothing has arrived.
    private mutating func bodyPiece(upTo remaining: Int) -> (ByteBuffer, left: Int)? {
        guard buffered.readableBytes > 0 else { return nil }
        let piece = buffered.readSlice(length: min(remaining, buffered.readableBytes))!
        return (piece, remaining - piece.readableBytes)
    }

    // MARK: Head

    private mutating func readHead() throws(IngressRefusal) -> Head? {
        // A client may send blank lines before a request (RFC 9112 §2.2).
        while buffered.readableBytesView.starts(with: [0x0D, 0x0A]) {
            buffered.moveReaderIndex(forwardBy: 2)
            headScanned = max(0, headScanned - 2)
        }
        guard let end = HTTPSyntax.headEnd(in: buffered, scanned: headScanned) else {
            // A head with bare-LF line ends would never show a CRLFCRLF end: refuse it at once
            // rather than hold the connection until the idle timeout.
            if Self.hasBareLineFeed(buffered, from: headScanned) {
                throw Self.badRequest("The request head has a line that does not end with CRLF.")
            }
            headScanned = buffered.readableBytes
            guard buffered.readableBytes <= Self.maxHeadBytes else { throw Self.headTooLarge() }
            return nil
        }
        headScanned = 0
        guard end <= Self.maxHeadBytes else { throw Self.headTooLarge() }
        let text = buffered.readSlice(length: end)!
        let parsed = try text.withUnsafeReadableBytes { [maxBodyBytes] bytes throws(IngressRefusal) in
            try Self.parseHead(UnsafeRawBufferPointer(rebasing: bytes.dropLast(2)), maxBodyBytes: maxBodyBytes)
        }
        state = parsed.framing
        return parsed.head
    }

    /// Bytes of the head, read in place (valid while the head is being parsed): slices of an
    /// array retained and released its storage for every line and value.
    private typealias HeadBytes = Slice<UnsafeRawBufferPointer>

    private struct ParsedHead {
        var head: Head
        var framing: State
    }

    /// The head's lines, each ending with CRLF (the blank line after them excluded), read in place.
    private static func parseHead(_ bytes: UnsafeRawBufferPointer, maxBodyBytes: Int) throws(IngressRefusal) -> ParsedHead {
        var lines = try crlfLines(bytes)
        let requestLine = lines.removeFirst()
        let (method, path, isHTTP10) = try parseRequestLine(requestLine)
        var fields = HTTPFields()
        fields.reserveCapacity(lines.count)
        guard lines.count <= maxFieldCount else { throw headTooLarge() }

        var keepAlive = !isHTTP10
        var expectsContinue = false
        var contentLength: Int?
        var codings: [HeadBytes] = []
        var hosts = 0
        var authority: String?
        for line in lines {
            guard line.first != 0x20, line.first != 0x09 else {
                throw badRequest("The request has a folded header line (obs-fold), which is not accepted.")
            }
            guard let colon = line.firstIndex(of: UInt8(ascii: ":")), colon > line.startIndex else {
                throw badRequest("The header line '\(printable(line))' has no name.")
            }
            let name = line[..<colon]
            // This also refuses folded lines (they start with a blank) and a blank before the colon.
            guard name.allSatisfy(HTTPSyntax.isTokenByte) else {
                throw badRequest("The header name '\(printable(name))' is not valid.")
            }
            let value = HTTPSyntax.trimmed(line[(colon + 1)...])
            guard HTTPSyntax.isFieldValue(value) else {
                throw badRequest("The header '\(printable(name))' has a control character in its value.")
            }
            // HTTPTypes keeps the Host as the request's authority, not as a field.
            if HTTPSyntax.isName(name, "host") {
                hosts += 1
                authority = String(decoding: value, as: UTF8.self)
                continue
            }
            let fieldName = try knownName(name)
            switch fieldName {
            case .contentLength:
                try HTTPSyntax.forEachElement(of: value) { part throws(IngressRefusal) in
                    guard let length = HTTPSyntax.decimalLength(part) else {
                        throw badRequest("Content-Length '\(printable(value))' is not a length.")
                    }
                    if let contentLength, contentLength != length {
                        throw badRequest("The request has conflicting Content-Length values.")
                    }
                    contentLength = length
                }
            case .transferEncoding:
                // Each field must name a coding: an empty one beside `chunked` is read differently
                // by a proxy that reads only the last field.
                let before = codings.count
                HTTPSyntax.forEachElement(of: value) { coding in
                    if !coding.isEmpty { codings.append(coding) }
                }
                if codings.count == before {
                    throw badRequest("The request has a Transfer-Encoding header that names no transfer coding.")
                }
            case .connection:
                HTTPSyntax.forEachElement(of: value) { token in
                    if HTTPSyntax.isName(token, "close") { keepAlive = false }
                    if HTTPSyntax.isName(token, "keep-alive") && isHTTP10 { keepAlive = true }
                }
            case .expect:
                expectsContinue = HTTPSyntax.isName(value, "100-continue")
            default:
                break
            }
            fields.append(HTTPField(name: fieldName, value: value))
        }
        // RFC 9112 §3.2: exactly one Host in an HTTP/1.1 request.
        if !isHTTP10 && hosts != 1 {
            throw badRequest(hosts == 0 ? "The request has no Host header." : "The request has more than one Host header.")
        }
        let framing = try bodyFraming(contentLength: contentLength, codings: codings, isHTTP10: isHTTP10)
        if case .fixedBody(let length) = framing, length > maxBodyBytes { throw .payloadTooLarge(limit: maxBodyBytes) }
        let request = HTTPRequest(method: method, scheme: nil, authority: authority, path: path, headerFields: fields)
        return ParsedHead(
            head: Head(request: request, keepAlive: keepAlive, isHTTP10: isHTTP10, expectsContinue: expectsContinue),
            framing: framing)
    }

    /// RFC 9112 §6.3, refusing what a server may refuse so that no two readers of these bytes can
    /// disagree about where the body ends.
    private static func bodyFraming(
        contentLength: Int?, codings: [HeadBytes], isHTTP10: Bool
    ) throws(IngressRefusal) -> State {
        guard !codings.isEmpty else {
            guard let contentLength, contentLength > 0 else { return .noBody }
            return .fixedBody(remaining: contentLength)
        }
        if contentLength != nil {
            throw badRequest("The request has both Content-Length and Transfer-Encoding.")
        }
        if isHTTP10 { throw badRequest("Transfer-Encoding is not allowed in an HTTP/1.0 request.") }
        guard let last = codings.last, HTTPSyntax.isName(last, "chunked") else {
            throw badRequest("The request body's length cannot be known: chunked is not its last transfer coding.")
        }
        guard codings.count == 1 else {
            throw IngressRefusal(
                status: 501, code: "unsupported_transfer_coding",
                message: "Only the chunked transfer coding is supported for request bodies.")
        }
        return .chunkSize
    }

    /// method SP request-target SP HTTP-version
    private static func parseRequestLine(
        _ line: HeadBytes
    ) throws(IngressRefusal) -> (HTTPRequest.Method, String, isHTTP10: Bool) {
        // Split at the first two spaces, in place.
        guard let firstSpace = line.firstIndex(of: 0x20), let secondSpace = line[(firstSpace + 1)...].firstIndex(of: 0x20),
            firstSpace > line.startIndex, secondSpace > firstSpace + 1
        else {
            throw badRequest("'\(printable(line))' is not an HTTP request line.")
        }
        let parts = (line[..<firstSpace], line[(firstSpace + 1)..<secondSpace], line[(secondSpace + 1)...])
        let version = parts.2
        let isHTTP10: Bool
        if version.elementsEqual("HTTP/1.1".utf8) {
            isHTTP10 = false
        } else if version.elementsEqual("HTTP/1.0".utf8) {
            isHTTP10 = true
        } else if version.count == 8, version.starts(with: "HTTP/".utf8), version[version.startIndex + 6] == UInt8(ascii: "."),
            [5, 7].allSatisfy({ (0x30...0x39).contains(version[version.startIndex + $0]) })
        {
            throw IngressRefusal(
                status: 505, code: "http_version_not_supported",
                message: "Only HTTP/1.0 and HTTP/1.1 are served here, not '\(printable(version))'.")
        } else {
            throw badRequest("'\(printable(line))' is not an HTTP request line.")
        }

        let method: HTTPRequest.Method
        if parts.0.elementsEqual("POST".utf8) {
            method = .post
        } else if parts.0.elementsEqual("GET".utf8) {
            method = .get
        } else if parts.0.allSatisfy(HTTPSyntax.isTokenByte),
            let other = HTTPRequest.Method(String(decoding: parts.0, as: UTF8.self))
        {
            method = other
        } else {
            throw badRequest("'\(printable(parts.0))' is not an HTTP method.")
        }

        // origin-form ("/path?query"), asterisk-form, or absolute-form (whose path is used).
        let target = parts.1
        guard target.allSatisfy({ (0x21...0x7E).contains($0) }) else {
            throw badRequest("The request target has a byte that is not visible ASCII.")
        }
        for scheme in ["http://", "https://"] where target.starts(with: scheme.utf8) {
            let authorityAndPath = target.dropFirst(scheme.utf8.count)
            let path = authorityAndPath.drop { $0 != UInt8(ascii: "/") && $0 != UInt8(ascii: "?") }
            return (method, (path.first == UInt8(ascii: "/") ? "" : "/") + String(decoding: path, as: UTF8.self), isHTTP10)
        }
        guard target.first == UInt8(ascii: "/") || (target.count == 1 && target.first == UInt8(ascii: "*")) else {
            throw badRequest("The request target '\(printable(target))' is neither a path nor an absolute URL.")
        }
        return (method, String(decoding: target, as: UTF8.self), isHTTP10)
    }

    /// An API-key header its clients send on every request (Anthropic's), interned like the
    /// standard names above: a field name, not knowledge of what the key means.
    private static let xAPIKey = HTTPField.Name("x-api-key")!

    /// The field names the gateway looks at are matched without building a name string.
    private static func knownName(_ name: HeadBytes) throws(IngressRefusal) -> HTTPField.Name {
        switch name.count {
        case 6 where HTTPSyntax.isName(name, "accept"): return .accept
        case 6 where HTTPSyntax.isName(name, "expect"): return .expect
        case 9 where HTTPSyntax.isName(name, "x-api-key"): return xAPIKey
        case 10 where HTTPSyntax.isName(name, "connection"): return .connection
        case 10 where HTTPSyntax.isName(name, "user-agent"): return .userAgent
        case 12 where HTTPSyntax.isName(name, "content-type"): return .contentType
        case 13 where HTTPSyntax.isName(name, "authorization"): return .authorization
        case 14 where HTTPSyntax.isName(name, "content-length"): return .contentLength
        case 15 where HTTPSyntax.isName(name, "accept-encoding"): return .acceptEncoding
        case 17 where HTTPSyntax.isName(name, "transfer-encoding"): return .transferEncoding
        default:
            // Checked above to be a token, which is what `Name` requires.
            guard let other = HTTPField.Name(String(decoding: name, as: UTF8.self)) else {
                throw badRequest("The header name '\(printable(name))' is not valid.")
            }
            return other
        }
    }

    /// The head's lines without their CRLF. A CR or LF anywhere else is refused.
    /// Whether a LF not preceded by CR appears at or after `from` in what has arrived.
    private static func hasBareLineFeed(_ buffer: ByteBuffer, from: Int) -> Bool {
        buffer.withUnsafeReadableBytes { bytes in
            for index in from..<bytes.count where bytes[index] == 0x0A && (index == 0 || bytes[index - 1] != 0x0D) {
                return true
            }
            return false
        }
    }

    private static func crlfLines(_ all: UnsafeRawBufferPointer) throws(IngressRefusal) -> [HeadBytes] {
        var lines: [HeadBytes] = []
        lines.reserveCapacity(16)
        var start = 0
        var index = 0
        while index < all.count {
            switch all[index] {
            case 0x0D:
                guard index + 1 < all.count, all[index + 1] == 0x0A else {
                    throw badRequest("The request head has a CR that does not end a line.")
                }
                lines.append(all[start..<index])
                index += 2
                start = index
            case 0x0A:
                throw badRequest("The request head has a line that ends with LF alone; HTTP lines end with CRLF.")
            default:
                index += 1
            }
        }
        return lines
    }

    // MARK: Lines after the head

    /// A line's bytes without its CRLF, or nil until it is complete.
    private mutating func readLine(limit: Int) throws(IngressRefusal) -> ArraySlice<UInt8>? {
        let newline = buffered.withUnsafeReadableBytes { $0.firstIndex(of: 0x0A) }
        guard let newline else {
            guard buffered.readableBytes <= limit + 1 else { throw Self.badRequest("A chunk line is too long.") }
            return nil
        }
        guard newline <= limit + 1 else { throw Self.badRequest("A chunk line is too long.") }
        let line = ArraySlice(buffered.readBytes(length: newline + 1)!)
        guard line.count >= 2, line[line.endIndex - 2] == 0x0D else {
            throw Self.badRequest("A chunk line ends with LF alone; HTTP lines end with CRLF.")
        }
        return line.dropLast(2)
    }

    // MARK: Refusals

    static func badRequest(_ message: String) -> IngressRefusal {
        IngressRefusal(status: 400, code: "malformed_http_request", message: message)
    }

    static func headTooLarge() -> IngressRefusal {
        IngressRefusal(
            status: 431, code: "request_header_fields_too_large",
            message: "The request head is larger than \(maxHeadBytes / 1024) KiB or has more than \(maxFieldCount) fields.")
    }

    /// Bytes quoted in an error message: printable ASCII kept, the rest as '?', at most 64.
    private static func printable<Bytes: Collection<UInt8>>(_ bytes: Bytes) -> String {
        String(decoding: bytes.prefix(64).map { (0x20...0x7E).contains($0) ? $0 : UInt8(ascii: "?") }, as: UTF8.self)
    }
}
