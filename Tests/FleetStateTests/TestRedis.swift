import Foundation
import Testing

/// A throwaway redis-server on a free port of 127.0.0.1, without persistence, stopped by its PID.
/// Without redis-server the tests that need one are skipped, unless SWITCHYARD_REQUIRE_REDIS=1
/// (the test script sets it) makes that a failure.
final class TestRedis: @unchecked Sendable {
    let port: Int
    private var process: Process?

    var url: String { "redis://127.0.0.1:\(port)" }

    static var available: Bool {
        if FileManager.default.isExecutableFile(atPath: binary) { return true }
        return ProcessInfo.processInfo.environment["SWITCHYARD_REQUIRE_REDIS"] == "1"
    }

    static let binary = "/usr/bin/redis-server"

    init() throws {
        port = try Self.freePort()
        try start()
    }

    deinit { stop() }

    func start() throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.binary)
        process.arguments = ["--bind", "127.0.0.1", "--port", String(port), "--save", "", "--appendonly", "no"]
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        self.process = process
        // Bounded: 10 s for a server that answers in milliseconds.
        for _ in 0..<200 {
            if Self.answers(port: port) { return }
            usleep(50_000)
        }
        throw RedisDidNotStart(port: port)
    }

    /// Stops the server (SIGKILL: its data is gone, as after a crash without persistence).
    func stop() {
        guard let process, process.isRunning else { return }
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        self.process = nil
    }

    /// Stops the server answering, with its data kept (SIGSTOP), until `resume`.
    func pause() {
        if let process { kill(process.processIdentifier, SIGSTOP) }
    }

    func resume() {
        if let process { kill(process.processIdentifier, SIGCONT) }
    }

    static func answers(port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else { return false }
        let ping = Array("PING\r\n".utf8)
        guard write(fd, ping, ping.count) == ping.count else { return false }
        var reply = [UInt8](repeating: 0, count: 16)
        return read(fd, &reply, reply.count) > 0 && reply.starts(with: Array("+PONG".utf8))
    }

    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
                bind(fd, pointer, length) == 0 && getsockname(fd, pointer, &length) == 0
            }
        }
        guard bound else { throw RedisDidNotStart(port: 0) }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}

struct RedisDidNotStart: Error {
    let port: Int
}
