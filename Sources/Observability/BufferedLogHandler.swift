import Foundation
import Logging
import SwitchyardCore
import Synchronization

/// A `LogHandler` that writes each line, in swift-log's `StreamLogHandler` format or as one JSON
/// object (`LOG_FORMAT=json`), and hands it to a `LogWriter`, which writes it from its own thread:
/// logging never blocks the caller on I/O.
///
/// The line is built as bytes (no string interpolation, the timestamp formatted once a second):
/// at `info` every request logs a line, so its cost is paid per request.
public struct BufferedLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    public var logLevel: Logger.Level = .info
    private let label: String
    private let writer: LogWriter
    private let format: LogFormat

    public init(
        label: String, writer: LogWriter = .standardError, format: LogFormat = .text,
        metadataProvider: Logger.MetadataProvider? = nil
    ) {
        self.label = label
        self.writer = writer
        self.format = format
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
        if format == .json { return writer.append(jsonLine(event, fields)) }
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

    /// `{"time":…,"level":…,"logger":…,"source":…,"message":…,<metadata>}`: the time in UTC to
    /// the millisecond, every metadata value as a JSON string, names sorted, one line.
    /// The members every JSON line has; metadata of the same name is left out.
    private static let reservedKeys: Set<String> = ["time", "level", "logger", "source", "message"]

    private func jsonLine(_ event: LogEvent, _ fields: Logger.Metadata) -> [UInt8] {
        var line: [UInt8] = []
        line.reserveCapacity(320)
        line.append(contentsOf: #"{"time":""#.utf8)
        LogTimestamp.appendUTC(to: &line)
        line.append(0x22)
        func member(_ key: String, _ value: String) {
            line.append(0x2C)
            line.append(contentsOf: AuditValue.jsonString(key).utf8)
            line.append(0x3A)
            line.append(contentsOf: AuditValue.jsonString(value).utf8)
        }
        member("level", event.level.rawValue)
        member("logger", label)
        member("source", event.source)
        member("message", event.message.description)
        for (key, value) in fields.sorted(by: { $0.key < $1.key }) where !Self.reservedKeys.contains(key) {
            switch value {
            case .string(let text): member(key, text)
            case .stringConvertible(let convertible): member(key, convertible.description)
            case .array, .dictionary: member(key, value.description)
            }
        }
        line.append(contentsOf: "}\n".utf8)
        return line
    }
}

/// How log lines are written: swift-log's text format, or one JSON object per line.
public enum LogFormat: String, Sendable {
    case text, json
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

    private static let utcCache = Mutex<(second: Int, text: [UInt8])>((-1, []))

    /// UTC to the millisecond (`2026-12-05T13:08:11.042Z`), for JSON lines.
    static func appendUTC(to line: inout [UInt8]) {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        let second = now.tv_sec
        let text = utcCache.withLock { cache -> [UInt8] in
            if cache.second != second {
                var seconds = second
                var utc = tm()
                gmtime_r(&seconds, &utc)
                var buffer = [Int8](repeating: 0, count: 32)
                let count = strftime(&buffer, buffer.count, "%Y-%m-%dT%H:%M:%S", &utc)
                cache = (second, buffer[..<count].map { UInt8(bitPattern: $0) })
            }
            return cache.text
        }
        line.append(contentsOf: text)
        let milliseconds = now.tv_nsec / 1_000_000
        line.append(0x2E)
        line.append(UInt8(48 + milliseconds / 100))
        line.append(UInt8(48 + milliseconds / 10 % 10))
        line.append(UInt8(48 + milliseconds % 10))
        line.append(0x5A)
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
