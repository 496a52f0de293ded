import HTTPTypes
import Hummingbird
import NIOCore
import WireFormats

/// What the console reads and changes, it asks of the admin API, in process: the endpoint is
/// found in `AdminEndpoint.all` and served for the signed-in principal behind the same access
/// table, so a console page can show no more than its viewer's credential may read over HTTP.
struct ConsoleAdminClient: Sendable {
    /// An admin endpoint's answer: its status, its body and, when it is JSON, the parsed value.
    struct Reply: Sendable {
        var status: Int
        var text: String
        var json: JSONValue?

        var ok: Bool { (200..<300).contains(status) }
        /// The admin API's error message, for showing on the page.
        var message: String { json?["error"]?["message"]?.stringValue ?? "The admin API answered \(status)." }
        var array: [JSONValue] { json?.arrayValue ?? [] }
    }

    let api: AdminAPI
    let principal: AdminPrincipal

    func get(_ path: String, _ query: [(String, String)] = []) async -> Reply {
        await call(.get, path, query)
    }

    func call(_ method: HTTPRequest.Method, _ path: String, _ query: [(String, String)] = [], body: String = "") async
        -> Reply
    {
        guard let (endpoint, parameters) = Self.endpoint(method, path) else {
            return Reply(status: 404, text: "", json: nil)
        }
        let target =
            query.isEmpty ? path : path + "?" + query.map { "\(Self.encode($0))=\(Self.encode($1))" }.joined(separator: "&")
        var head = HTTPRequest(method: method, scheme: "http", authority: "console", path: target)
        if !body.isEmpty { head.headerFields[.contentType] = "application/json" }
        let request = Request(head: head, body: RequestBody(buffer: ByteBuffer(string: body)))
        let response = await api.serve(request, endpoint: endpoint, parameters: parameters, as: principal)
        let collector = Collector()
        try? await response.body.write(collector)
        let text = String(buffer: collector.box.buffer)
        return Reply(status: response.status.code, text: text, json: try? JSONValue.parse(Array(text.utf8)))
    }

    /// The endpoint whose path template matches, and the template's parameters.
    static func endpoint(_ method: HTTPRequest.Method, _ path: String) -> (AdminEndpoint, [String: String])? {
        let segments = path.split(separator: "/", omittingEmptySubsequences: false)
        for endpoint in AdminEndpoint.all where endpoint.method == method {
            let template = endpoint.path.split(separator: "/", omittingEmptySubsequences: false)
            guard template.count == segments.count else { continue }
            var parameters: [String: String] = [:]
            let matches = zip(template, segments).allSatisfy { pattern, segment in
                guard pattern.hasPrefix("{") else { return pattern == segment }
                guard !segment.isEmpty else { return false }
                parameters[String(pattern.dropFirst().dropLast())] = String(segment)
                return true
            }
            if matches { return (endpoint, parameters) }
        }
        return nil
    }

    /// Percent-encodes everything but unreserved characters.
    static func encode(_ text: String) -> String {
        var encoded = ""
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"),
                UInt8(ascii: "~"):
                encoded.append(Character(Unicode.Scalar(byte)))
            default:
                encoded += "%" + (byte < 16 ? "0" : "") + String(byte, radix: 16, uppercase: true)
            }
        }
        return encoded
    }

    /// Keeps what the admin handler writes.
    private final class Box: @unchecked Sendable {
        var buffer = ByteBuffer()
    }

    private struct Collector: ResponseBodyWriter {
        let box = Box()

        mutating func write(_ buffer: ByteBuffer) async throws {
            var buffer = buffer
            box.buffer.writeBuffer(&buffer)
        }

        func finish(_ trailingHeaders: HTTPFields?) async throws {}
    }
}
