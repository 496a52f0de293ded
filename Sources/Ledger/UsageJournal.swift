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
    // @unchecked: the ledger writer serialises every use (its `journalAccess` lock).
    public let path: String
    private let encoder = JSONEncoder()
    private let decoder = JSONDecoder()

    public init(path: String) {
        self.path = path
    }

    /// Where a replay moves the journal first, so records spilled while it runs go to a new file.
    public var replayingPath: String { path + ".replaying" }

    public var isEmpty: Bool { Self.size(of: path) == 0 && Self.size(of: replayingPath) == 0 }

    private static func size(of path: String) -> Int {
        (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
    }

    public func append(_ records: [UsageRecord]) throws {
        var data = Data()
        for record in records {
            data.append(try encoder.encode(record))
            data.append(UInt8(ascii: "\n"))
        }
        do {
            try DurableFile.append(Array(data), to: path)
        } catch {
            throw error.step == .open ? JournalError.cannotOpen(path, error.code) : JournalError.cannotWrite(path, error.code)
        }
    }

    /// Every complete record in the journal (`path`, or the file a replay moved it to), and how
    /// many lines were unreadable.
    public func readAll(from file: String? = nil) async throws -> (records: [UsageRecord], skipped: Int) {
        var records: [UsageRecord] = []
        let skipped = try await forEachBatch(of: .max, from: file ?? path) { records += $0 }
        return (records, skipped)
    }

    /// Reads a journal file in batches of at most `size` records, so replaying a large journal
    /// needs memory for one batch, not the file. Returns how many lines were unreadable.
    public func forEachBatch(
        of size: Int, from file: String, _ body: ([UsageRecord]) async throws -> Void
    ) async throws -> Int {
        guard let handle = FileHandle(forReadingAtPath: file) else { return 0 }
        defer { try? handle.close() }
        var carry = Data()
        var batch: [UsageRecord] = []
        var skipped = 0
        func take(_ line: Data.SubSequence) {
            guard !line.isEmpty else { return }
            if let record = try? decoder.decode(UsageRecord.self, from: Data(line)) {
                batch.append(record)
            } else {
                skipped += 1
            }
        }
        while let chunk = try handle.read(upToCount: 1 << 22), !chunk.isEmpty {
            carry.append(chunk)
            var lines = carry.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
            let rest = lines.removeLast()  // an unfinished line waits for the next chunk
            for line in lines {
                take(line)
                if batch.count >= size {
                    try await body(batch)
                    batch.removeAll(keepingCapacity: true)
                }
            }
            carry = Data(rest)
        }
        take(carry[...])  // a last line without newline: complete, or torn by a crash
        if !batch.isEmpty { try await body(batch) }
        return skipped
    }

    /// Moves the journal aside for a replay (unless an interrupted replay's file is still there,
    /// which is replayed first). Returns the file to replay, or nil when there is nothing.
    public func beginReplay() throws -> String? {
        if FileManager.default.fileExists(atPath: replayingPath) { return replayingPath }
        guard Self.size(of: path) > 0 else { return nil }
        guard rename(path, replayingPath) == 0 else { throw JournalError.cannotWrite(path, errno) }
        return replayingPath
    }

    /// Removes the replayed file once its records are safely in the store.
    public func finishReplay() throws {
        guard unlink(replayingPath) == 0 || errno == ENOENT else { throw JournalError.cannotWrite(replayingPath, errno) }
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
