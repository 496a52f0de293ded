/// The token an `Authorization` header presents.
package enum BearerToken {
    /// The token of `Authorization: Bearer <token>` (scheme in any case, blanks around the token
    /// dropped); any other value as it is. Read as bytes: this runs for every request.
    static func presented(_ authorization: String) -> String { credential(authorization) ?? authorization }

    /// The token when `authorization` uses the Bearer scheme, else nil.
    package static func credential(_ authorization: String) -> String? {
        let bytes = authorization.utf8
        guard bytes.count >= 7, bytes.prefix(7).elementsEqual("bearer ".utf8, by: { $0 | 0x20 == $1 | 0x20 }) else {
            return nil
        }
        let isBlank = { (byte: UInt8) in byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") }
        let token = bytes.dropFirst(7).drop(while: isBlank)
        let end = token.lastIndex { !isBlank($0) }.map { bytes.index(after: $0) } ?? token.startIndex
        return String(Substring(authorization.utf8[token.startIndex..<end]))
    }
}
