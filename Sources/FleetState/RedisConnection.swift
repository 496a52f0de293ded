import CHiredis
import Dispatch
import Foundation

/// One Redis connection through hiredis, the official C client, used from a serial queue of its
/// own (hiredis blocks). Only background lease work goes through it, so a blocking client costs
/// no event-loop time. A failed command drops the connection; the next one reconnects.
public final class RedisConnection: @unchecked Sendable {
    /// Touched only on `queue`.
    private var context: UnsafeMutablePointer<redisContext>?
    private let queue: DispatchQueue
    private let endpoint: RedisEndpoint
    private let timeout: timeval

    public init(url: String, timeoutMilliseconds: Int = 500) throws(RedisError) {
        endpoint = try RedisEndpoint(url: url)
        timeout = timeval(tv_sec: timeoutMilliseconds / 1000, tv_usec: Int((timeoutMilliseconds % 1000) * 1000))
        queue = DispatchQueue(label: "switchyard.redis")
    }

    deinit { if let context { redisFree(context) } }

    /// Runs one command; strings are passed as binary-safe arguments.
    public func command(_ arguments: [String]) async throws -> RedisValue {
        try await withCheckedThrowingContinuation { continuation in
            queue.async { continuation.resume(with: Result { try self.run(arguments) }) }
        }
    }

    private func run(_ arguments: [String]) throws -> RedisValue {
        let context = try connected()
        let reply = withArgv(arguments) { argc, argv, lengths in
            redisCommandArgv(context, argc, argv, lengths)
        }
        guard let reply else {
            let message = String(
                cString: withUnsafePointer(to: context.pointee.errstr) {
                    UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self)
                })
            disconnect()
            throw RedisError.connection(message.isEmpty ? "no reply" : message)
        }
        defer { freeReplyObject(reply) }
        let value = RedisValue(reply.assumingMemoryBound(to: redisReply.self).pointee)
        if case .error(let message) = value { throw RedisError.server(message) }
        return value
    }

    private func connected() throws -> UnsafeMutablePointer<redisContext> {
        if let context { return context }
        guard let fresh = redisConnectWithTimeout(endpoint.host, Int32(endpoint.port), timeout) else {
            throw RedisError.connection("could not allocate a connection")
        }
        if fresh.pointee.err != 0 {
            let message = String(
                cString: withUnsafePointer(to: fresh.pointee.errstr) { UnsafeRawPointer($0).assumingMemoryBound(to: CChar.self) })
            redisFree(fresh)
            throw RedisError.connection(message)
        }
        redisSetTimeout(fresh, timeout)
        context = fresh
        do {
            if let password = endpoint.password { _ = try run(["AUTH", password]) }
            if endpoint.database != 0 { _ = try run(["SELECT", String(endpoint.database)]) }
        } catch {
            disconnect()
            throw error
        }
        return fresh
    }

    private func disconnect() {
        if let context { redisFree(context) }
        context = nil
    }

    private func withArgv<T>(
        _ arguments: [String], _ body: (Int32, UnsafeMutablePointer<UnsafePointer<CChar>?>, UnsafePointer<Int>) -> T
    ) -> T {
        let storage = arguments.map { Array($0.utf8CString) }
        var pointers: [UnsafePointer<CChar>?] = []
        pointers.reserveCapacity(storage.count)
        var lengths = storage.map { $0.count - 1 }
        return withExtendedLifetime(storage) {
            for index in storage.indices {
                pointers.append(storage[index].withUnsafeBufferPointer { $0.baseAddress })
            }
            return pointers.withUnsafeMutableBufferPointer { argv in
                lengths.withUnsafeMutableBufferPointer { lengths in
                    body(Int32(arguments.count), argv.baseAddress!, lengths.baseAddress!)
                }
            }
        }
    }
}

/// A reply, reduced to what the lease scripts return.
public enum RedisValue: Sendable, Equatable {
    case integer(Int64)
    case string(String)
    case array([RedisValue])
    case null
    case error(String)

    init(_ reply: redisReply) {
        switch reply.type {
        case REDIS_REPLY_INTEGER: self = .integer(Int64(reply.integer))
        case REDIS_REPLY_STRING, REDIS_REPLY_STATUS:
            self = .string(String(decoding: UnsafeRawBufferPointer(start: reply.str, count: reply.len), as: UTF8.self))
        case REDIS_REPLY_ERROR:
            self = .error(String(decoding: UnsafeRawBufferPointer(start: reply.str, count: reply.len), as: UTF8.self))
        case REDIS_REPLY_ARRAY:
            self = .array((0..<reply.elements).map { RedisValue(reply.element[$0]!.pointee) })
        default: self = .null
        }
    }

    /// An integer reply, or a string of digits (Lua numbers come back as strings when sent so).
    public var int64: Int64? {
        switch self {
        case .integer(let value): value
        case .string(let text): Int64(text)
        default: nil
        }
    }
}

public enum RedisError: Error, Sendable, Equatable, CustomStringConvertible {
    case invalidURL(String)
    case connection(String)
    case server(String)
    case unexpectedReply(String)

    public var description: String {
        switch self {
        case .invalidURL(let reason): "invalid Redis URL: \(reason)"
        case .connection(let reason): "Redis unreachable: \(reason)"
        case .server(let message): "Redis error: \(message)"
        case .unexpectedReply(let what): "unexpected Redis reply: \(what)"
        }
    }
}

/// `redis://[:PASSWORD@]HOST[:PORT][/DB]`.
struct RedisEndpoint: Equatable {
    var host: String
    var port: Int
    var password: String?
    var database: Int

    init(url: String) throws(RedisError) {
        guard url.hasPrefix("redis://"), let components = URLComponents(string: url), let host = components.host,
            !host.isEmpty
        else { throw RedisError.invalidURL("expected redis://[:PASSWORD@]HOST[:PORT][/DB]") }
        self.host = host
        port = components.port ?? 6379
        password = components.password.flatMap { $0.isEmpty ? nil : $0.removingPercentEncoding }
        let path = components.path.trimmingCharacters(in: CharacterSet(charactersIn: "/"))
        guard path.isEmpty || Int(path) != nil else { throw RedisError.invalidURL("the database must be a number") }
        database = Int(path) ?? 0
    }
}
