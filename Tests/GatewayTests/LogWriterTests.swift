import Foundation
import Logging
import Observability
import Testing

@testable import DataPlane

/// Log lines leave through a thread of their own: the caller only appends to memory, the lines
/// arrive whole and in order, a writer that cannot keep up drops (and says how many) instead of
/// growing or blocking, and `flush` waits for what was appended.
@Suite struct LogWriterTests {
    func temporaryFile() -> (path: String, descriptor: Int32) {
        let path = NSTemporaryDirectory() + "log-\(UUID().uuidString).txt"
        return (path, open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o644))
    }

    @Test func linesArriveWholeAndInOrderAfterFlush() throws {
        let (path, descriptor) = temporaryFile()
        defer { close(descriptor) }
        let writer = LogWriter(descriptor: descriptor)
        var logger = Logger(label: "test") { label in BufferedLogHandler(label: label, writer: writer) }
        logger.logLevel = .debug
        for index in 0..<1000 { logger.info("line \(index)", metadata: ["b": "2", "a": "1"]) }
        writer.flush()
        let lines = try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 1000)
        #expect(lines.first?.hasSuffix(" info test: a=1 b=2 [GatewayTests] line 0") == true, "\(lines.first ?? "")")
        #expect(lines.enumerated().allSatisfy { $1.hasSuffix("line \($0)") })
    }

    /// A descriptor nobody reads (a pipe whose other end is full): appends stay quick, the lines
    /// past the capacity are dropped and counted.
    @Test func aStalledDescriptorDropsInsteadOfBlocking() throws {
        var ends: [Int32] = [0, 0]
        #expect(pipe(&ends) == 0)
        // Left open: the writer's thread stays blocked on the full pipe (closing the read end
        // would raise SIGPIPE in this process).
        let writer = LogWriter(descriptor: ends[1], capacity: 64 * 1024)
        let line = Array(String(repeating: "x", count: 99).utf8) + [0x0A]
        let started = ContinuousClock.now
        for _ in 0..<10_000 { writer.append(line) }  // 1 MB: a pipe holds 64 KiB, the buffer 64 KiB
        #expect(ContinuousClock.now - started < .seconds(5))
        #expect(writer.droppedLines > 0)
    }

    /// A descriptor that refuses writes (here: opened read-only; in production a pipe whose reader
    /// died): the lines are lost and counted, and the writer goes on.
    @Test func refusedWritesAreCounted() throws {
        let descriptor = open("/dev/null", O_RDONLY)
        defer { close(descriptor) }
        let writer = LogWriter(descriptor: descriptor)
        for _ in 0..<10 { writer.append(Array("line\n".utf8)) }
        writer.flush()
        #expect(writer.lostLines == 10)
        #expect(writer.droppedLines == 0)
    }

    /// The request line's latency, written as `String(format: "%.1f")` would, rounded half up.
    @Test func requestLatencyIsWrittenToOneDecimalOfAMillisecond() {
        #expect(RequestObserver.millisecondsToOneDecimal(.microseconds(12_340)) == "12.3")
        #expect(RequestObserver.millisecondsToOneDecimal(.microseconds(12_350)) == "12.4")
        #expect(RequestObserver.millisecondsToOneDecimal(.microseconds(40)) == "0.0")
        #expect(RequestObserver.millisecondsToOneDecimal(.seconds(3) + .microseconds(99_960)) == "3100.0")
    }
}
