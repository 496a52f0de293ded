import Foundation
import Logging
import Synchronization

/// A `LogHandler` that writes each line in swift-log's `StreamLogHandler` format and hands it to
/// a `LogWriter`, which writes it from its own thread: logging never blocks the caller on I/O.
///
/// The line is built as bytes (no string interpolation, the timestamp formatted once a second):
/// at `info` every request logs a line, so its cost is paid per request.
public struct BufferedLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    public var logLevel: Logger.Level = .info
    private let label: String
    private let writer: LogWriter

    public init(label: String, writer: LogWriter = .standardError, metadataProvider: Logger.MetadataProvider? = nil) {
        self.label = label
        self.writer = writer
        self.metadataProvider = metadataProvider
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var fields = metadata
        if let provided = metadataProvider?.get() { fields.merge(provided) { _, provided in provided } }
        if let explicit = event.metadata {
            if fields.isEmpty { fields = explicit } else { fields.merge(explicit) { _, explicit in explicit } }
        }
        var line: [UInt8] = []
        line.reserveCapacity(256)
        LogTimestamp.append(to: &line)
        line.append(0x20)
        line.append(contentsOf: event.level.rawValue.utf8)
        line.append(0x20)
        line.append(contentsOf: label.utf8)
        line.append(0x3A)
        for (key, value) in fields.sorted(by: { $0.key < $1.key }) {
            line.append(0x20)
            line.append(contentsOf: key.utf8)
            line.append(0x3D)
            switch value {
            case .string(let text): line.append(contentsOf: text.utf8)
            case .stringConvertible(let convertible): line.append(contentsOf: convertible.description.utf8)
            case .array, .dictionary: line.append(contentsOf: value.description.utf8)
            }
        }
        line.append(contentsOf: " [".utf8)
        line.append(contentsOf: event.source.utf8)
        line.append(contentsOf: "] ".utf8)
        line.append(contentsOf: event.message.description.utf8)
        line.append(0x0A)
        writer.append(line)
    }
}

/// Local time as `StreamLogHandler` writes it (`2026-12-05T13:08:11+0000`), formatted once per
/// second and shared by every thread that logs.
enum LogTimestamp {
    private static let cache = Mutex<(second: Int, text: [UInt8])>((-1, []))

    static func append(to line: inout [UInt8]) {
        let now = time(nil)
        let text = cache.withLock { cache -> [UInt8] in
            if cache.second != now {
                cache = (now, format(now))
            }
            return cache.text
        }
        line.append(contentsOf: text)
    }

    private static func format(_ second: Int) -> [UInt8] {
        var seconds = second
        var local = tm()
        localtime_r(&seconds, &local)
        var buffer = [Int8](repeating: 0, count: 32)
        let count = strftime(&buffer, buffer.count, "%Y-%m-%dT%H:%M:%S%z", &local)
        return buffer[..<count].map { UInt8(bitPattern: $0) }
    }
}
