import ArgumentParser
import ControlPlane
import DataPlane
import Foundation
import Logging
import Observability

struct Serve: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run the gateway.",
        discussion: """
            With no configuration file it listens on 127.0.0.1:8080 with an embedded SQLite store \
            (./switchyard.db) and no providers; its log says how to add one. SIGTERM or SIGINT drain \
            in-flight requests and flush every usage record before exit.

            Example:
              SWITCHYARD_ADMIN_KEY=… switchyard serve --config switchyard.yaml
            """)

    @OptionGroup var options: ConfigOptions

    func run() async throws {
        // A log reader that dies (stderr a closed pipe) must cost log lines, counted in /metrics,
        // not the process and the usage records it holds: writes fail with EPIPE instead. SwiftNIO
        // ignores SIGPIPE too once it opens a socket; this does not rely on it.
        signal(SIGPIPE, SIG_IGN)
        let environment = ProcessInfo.processInfo.environment
        let level = environment["LOG_LEVEL"].flatMap(Logger.Level.init(rawValue:)) ?? .info
        guard let format = LogFormat(rawValue: environment["LOG_FORMAT"]?.lowercased() ?? "text") else {
            throw ValidationError("LOG_FORMAT must be text or json, not '\(environment["LOG_FORMAT"] ?? "")'")
        }
        // Lines are written to stderr from a thread of their own: a request's log line never
        // blocks an event loop on I/O.
        LoggingSystem.bootstrap { label in
            var handler = BufferedLogHandler(label: label, format: format)
            handler.logLevel = level
            return handler
        }
        defer { LogWriter.standardError.flush() }
        let configuration = try options.load()
        let server = SwitchyardServer(configuration: configuration, logger: Logger(label: "switchyard"))
        try await server.run()
    }
}
