/// `http://host[:port]/path` split once; anything else (https, userinfo, no host) is not ours.
/// Read as UTF-8 bytes: this runs for every upstream request.
struct PlainHTTPTarget {
    var host: String
    var port: Int
    var path: String
    var hostHeader: String

    init?(_ url: String) {
        let bytes = url.utf8
        guard bytes.starts(with: "http://".utf8) else { return nil }
        let rest = bytes.dropFirst(7)
        let authorityEnd = rest.firstIndex { $0 == UInt8(ascii: "/") || $0 == UInt8(ascii: "?") } ?? rest.endIndex
        let authority = rest[..<authorityEnd]
        guard !authority.isEmpty, !authority.contains(UInt8(ascii: "@")), authority.first != UInt8(ascii: "[") else {
            return nil
        }
        var hostEnd = authority.endIndex
        if let colon = authority.lastIndex(of: UInt8(ascii: ":")) {
            let digits = authority[authority.index(after: colon)...]
            guard (1...5).contains(digits.count), digits.allSatisfy({ (0x30...0x39).contains($0) }) else { return nil }
            let port = digits.reduce(0) { $0 * 10 + Int($1 - 0x30) }
            guard (1...65535).contains(port) else { return nil }
            self.port = port
            hostEnd = colon
        } else {
            port = 80
        }
        guard hostEnd > authority.startIndex else { return nil }
        host = String(Substring(authority[..<hostEnd]))
        let remainder = Substring(bytes[authorityEnd...])
        path = remainder.isEmpty ? "/" : (remainder.hasPrefix("?") ? "/" + remainder : String(remainder))
        hostHeader = String(Substring(authority))
    }
}
