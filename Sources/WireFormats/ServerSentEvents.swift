/// One server-sent event. Only the fields the gateway uses are kept; `data` joins multi-line
/// data with `\n` as the specification says.
public struct ServerSentEvent: Hashable, Sendable {
    public var event: String?
    public var data: [UInt8]
    public var id: String?

    public init(event: String? = nil, data: [UInt8], id: String? = nil) {
        self.event = event
        self.data = data
        self.id = id
    }

    public init(event: String? = nil, data: String) {
        self.init(event: event, data: Array(data.utf8))
    }

    public var isDone: Bool { data == Array("[DONE]".utf8) }

    /// The event in wire form, ending with the blank line that dispatches it.
    public func encoded() -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(data.count + 16)
        if let event {
            bytes += Array("event: ".utf8) + Array(event.utf8) + [0x0A]
        }
        if let id {
            bytes += Array("id: ".utf8) + Array(id.utf8) + [0x0A]
        }
        var lineStart = 0
        for index in 0...data.count where index == data.count || data[index] == 0x0A {
            bytes += Array("data: ".utf8)
            bytes += data[lineStart..<index]
            bytes.append(0x0A)
            lineStart = index + 1
        }
        bytes.append(0x0A)
        return bytes
    }
}

/// An incremental parser of `text/event-stream`: feed it bytes as they arrive, in chunks split
/// anywhere, and it returns the events completed so far.
///
/// Follows the HTML living standard's rules: lines end in LF, CR or CRLF; `:` lines are
/// comments; one optional space after the colon is dropped; an event is dispatched at a blank
/// line and only if it has data.
public struct ServerSentEventParser: Sendable {
    private var line: [UInt8] = []
    private var data: [UInt8] = []
    private var hasData = false
    private var eventType: String?
    private var lastID: String?
    private var previousWasCR = false

    public init() {}

    public mutating func feed<Bytes: Sequence>(_ bytes: Bytes) -> [ServerSentEvent] where Bytes.Element == UInt8 {
        let array = Array(bytes)
        return array.withUnsafeBytes { feed(raw: $0) }
    }

    /// The fast path: scans for line ends in contiguous memory and copies whole line pieces, so
    /// the cost per chunk is a few copies, not a generic call per byte.
    public mutating func feed(raw bytes: UnsafeRawBufferPointer) -> [ServerSentEvent] {
        var events: [ServerSentEvent] = []
        var index = 0
        let count = bytes.count
        if previousWasCR, index < count {
            previousWasCR = false
            if bytes[index] == 0x0A { index += 1 }
        }
        var lineStart = index
        while index < count {
            let byte = bytes[index]
            if byte == 0x0A || byte == 0x0D {
                line.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[lineStart..<index]))
                if let event = endLine() { events.append(event) }
                index += 1
                if byte == 0x0D {
                    if index < count {
                        if bytes[index] == 0x0A { index += 1 }
                    } else {
                        previousWasCR = true
                    }
                }
                lineStart = index
            } else {
                index += 1
            }
        }
        if lineStart < count {
            line.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[lineStart..<count]))
        }
        return events
    }

    /// Bytes held back because no line end has arrived yet; nonzero at the end of a stream means
    /// the upstream stopped mid-event.
    public var bufferedByteCount: Int { line.count + data.count }

    private mutating func endLine() -> ServerSentEvent? {
        defer { line.removeAll(keepingCapacity: true) }
        if line.isEmpty { return dispatch() }
        if line[0] == UInt8(ascii: ":") { return nil }
        let field: ArraySlice<UInt8>
        var value: ArraySlice<UInt8>
        if let colon = line.firstIndex(of: UInt8(ascii: ":")) {
            field = line[..<colon]
            value = line[(colon + 1)...]
            if value.first == UInt8(ascii: " ") { value = value.dropFirst() }
        } else {
            field = line[...]
            value = []
        }
        switch String(decoding: field, as: UTF8.self) {
        case "data":
            if hasData { data.append(0x0A) }
            data += value
            hasData = true
        case "event":
            eventType = String(decoding: value, as: UTF8.self)
        case "id":
            lastID = String(decoding: value, as: UTF8.self)
        default:
            break  // `retry` and unknown fields: nothing for a proxy to act on.
        }
        return nil
    }

    private mutating func dispatch() -> ServerSentEvent? {
        defer {
            data.removeAll(keepingCapacity: true)
            hasData = false
            eventType = nil
        }
        guard hasData else { return nil }
        return ServerSentEvent(event: eventType, data: data, id: lastID)
    }
}
