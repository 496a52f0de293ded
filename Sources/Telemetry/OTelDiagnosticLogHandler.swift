import Logging
import Synchronization

/// What swift-otel logs about itself, passed on to our log: warnings and worse only, whatever
/// level swift-otel sets (it raises its logger to `info` and logs each `OTEL_*` value it reads,
/// header credentials included), with only its `error` and `component` metadata, and each message
/// at most once a minute (a collector that is gone must not flood the log).
struct OTelDiagnosticLogHandler: LogHandler {
    private let destination: Logger
    private let lastLogged: LastLogged
    var metadata: Logger.Metadata = [:]

    final class LastLogged: Sendable {
        let times = Mutex<[String: ContinuousClock.Instant]>([:])
    }

    init(destination: Logger) {
        self.destination = destination
        self.lastLogged = LastLogged()
    }

    var logLevel: Logger.Level {
        get { .warning }
        set {}
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        guard event.level >= .warning else { return }
        let text = event.message.description
        let now = ContinuousClock.now
        let due = lastLogged.times.withLock { times in
            if let last = times[text], now - last < .seconds(60) { return false }
            times[text] = now
            return true
        }
        guard due else { return }
        var kept = (metadata.merging(event.metadata ?? [:]) { $1 }).filter { $0.key == "error" || $0.key == "component" }
        if let error = event.error { kept["error"] = "\(error)" }
        destination.log(level: event.level, "swift-otel: \(text) (logged at most once a minute)", metadata: kept)
    }
}
