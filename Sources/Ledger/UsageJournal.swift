import Foundation
import SwitchyardCore

#if canImport(Glibc)
    import Glibc
#endif

/// A local append-only file of usage records that could not reach the store yet.
///
/// One JSON object per line, fsync'd after every append, so a record that reached the journal
/// survives a crash. A torn last line (crash mid-write) is skipped on replay.
public final class UsageJournal: @unchecked Sendable {
    // @unchecked: used only from the ledger writer's single task.
    public let path: String
    private let encoder = JSONEncoder()
    private let decoder = JSONDecoder()

    public init(path: String) {
        self.path = path
    }

    public var isEmpty: Bool {
        let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
        return size == 0
    }

    public func append(_ records: [UsageRecord]) throws {
        var data = Data()
        for record in records {
            data.append(try encoder.encode(record))
            data.append(UInt8(ascii: "\n"))
        }
        let descriptor = open(path, O_WRONLY | O_CREAT | O_APPEND, 0o600)
        guard descriptor >= 0 else { throw JournalError.cannotOpen(path, errno) }
        defer { close(descriptor) }
        try data.withUnsafeBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let written = write(descriptor, buffer.baseAddress! + offset, buffer.count - offset)
                if written < 0 {
                    if errno == EINTR { continue }
                    throw JournalError.cannotWrite(path, errno)
                }
                offset += written
            }
        }
        guard fsync(descriptor) == 0 else { throw JournalError.cannotWrite(path, errno) }
    }

    /// Every complete record in the journal, and how many lines were unreadable.
    public func readAll() throws -> (records: [UsageRecord], skipped: Int) {
        guard FileManager.default.fileExists(atPath: path) else { return ([], 0) }
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        var records: [UsageRecord] = []
        var skipped = 0
        for line in data.split(separator: UInt8(ascii: "\n")) where !line.isEmpty {
            if let record = try? decoder.decode(UsageRecord.self, from: Data(line)) {
                records.append(record)
            } else {
                skipped += 1
            }
        }
        return (records, skipped)
    }

    /// Empties the journal once its records are safely in the store.
    public func truncate() throws {
        guard FileManager.default.fileExists(atPath: path) else { return }
        guard Glibc.truncate(path, 0) == 0 else { throw JournalError.cannotWrite(path, errno) }
    }

    public enum JournalError: Error, CustomStringConvertible {
        case cannotOpen(String, Int32)
        case cannotWrite(String, Int32)

        public var description: String {
            switch self {
            case .cannotOpen(let path, let code): "cannot open usage journal \(path): \(String(cString: strerror(code)))"
            case .cannotWrite(let path, let code): "cannot write usage journal \(path): \(String(cString: strerror(code)))"
            }
        }
    }
}
