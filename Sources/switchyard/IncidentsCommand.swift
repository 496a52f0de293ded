import ArgumentParser
import Foundation
import Incidents
import Storage
import SwitchyardCore

struct IncidentsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "incidents",
        abstract: "Incidents: anomalies in the gateway's traffic, where they concentrate and their probable cause.",
        discussion: """
            Read from the store (every replica's). `serve` opens, updates and resolves them once per \
            incidents.window_seconds; see the README, "Incidents and probes".
            """,
        subcommands: [List.self, Show.self, Measure.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Incidents, most recently opened first.",
            discussion: """
                Examples:
                  switchyard incidents list
                  switchyard incidents list --status open --format json
                """)

        @OptionGroup var options: ConfigOptions
        @Option(help: "open or resolved.") var status: String?
        @Option(help: "At most this many (1 to \(SQLStore.maximumIncidents)).") var limit: Int = 50
        @Option(help: "table or json.") var format: OutputFormat = .table

        func validate() throws {
            guard status == nil || status == "open" || status == "resolved" else {
                throw ValidationError("--status must be open or resolved")
            }
            guard (1...SQLStore.maximumIncidents).contains(limit) else {
                throw ValidationError("--limit must be from 1 to \(SQLStore.maximumIncidents)")
            }
            guard format != .csv else { throw ValidationError("--format must be table or json") }
        }

        func run() async throws {
            let (_, store) = try await options.openStore()
            let incidents = try await store.incidents(status: status, limit: limit)
            await store.close()
            if format == .json {
                print("[" + incidents.map(\.detail).joined(separator: ",") + "]")
                return
            }
            print(
                OutputFormat.render(
                    .table, header: ["id", "status", "opened", "resolved", "cause", "summary"],
                    rows: incidents.map {
                        [
                            $0.id, $0.status, $0.openedAt.rfc3339Seconds, $0.resolvedAt?.rfc3339Seconds ?? "", $0.causeKey,
                            $0.summary,
                        ]
                    }), terminator: "")
        }
    }

    struct Measure: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "What detection costs per window at a given number of series (synthetic traffic, no store).",
            discussion: """
                Builds one window of traffic spread over --series series (agents, tenants, routes, \
                deployments, providers), then runs detection over --windows windows and prints the \
                CPU time per window.
                  switchyard incidents measure --series 10000
                """)

        @Option(help: "Series to spread the traffic over (100 to 100,000).") var series: Int = 10_000
        @Option(help: "Windows to run (the first five only build baselines).") var windows: Int = 40

        func validate() throws {
            guard (100...100_000).contains(series) else { throw ValidationError("--series must be from 100 to 100000") }
            guard (6...1000).contains(windows) else { throw ValidationError("--windows must be from 6 to 1000") }
        }

        func run() async throws {
            // 90 % of the series are agents (one combination each), the rest tenants, routes,
            // deployments and providers.
            let agents = series * 9 / 10
            let others = series - agents
            let tenants = max(1, others * 9 / 10)
            let routes = max(1, (others - tenants) / 2)
            let deployments = max(1, others - tenants - routes - 2)
            var cells: [TrafficKey: TrafficCell] = [:]
            for agent in 0..<agents {
                var cell = TrafficCell()
                let record = UsageRecord(
                    id: "m", startedAt: UnixMicros(0), finishedAt: UnixMicros(0), tenant: "t\(agent % tenants)",
                    agent: "a\(agent)", keyID: nil, endpoint: "chat.completions", route: "r\(agent % routes)",
                    deployment: "d\(agent % deployments)", provider: "p\(agent % 2)", upstreamModel: "m", streamed: false,
                    usage: TokenUsage(inputTokens: 100, outputTokens: 20), cost: Money(nanos: 5_000, currency: "USD"),
                    latencyMicros: Int64(50_000 + agent % 7 * 1_000), timeToFirstTokenMicros: nil, status: 200,
                    errorClass: nil, tags: [:])
                for _ in 0..<20 { cell.add(record) }
                cells[TrafficKey(record)] = cell
            }
            var settings = DetectionSettings()
            settings.maximumSeries = series * 2
            var detector = AnomalyDetector(settings: settings)
            var book = IncidentBook(settings: settings, mitigation: MitigationSettings(), windowMicros: 60_000_000)
            let clock = ContinuousClock()
            var elapsed = Duration.zero
            for window in 0..<windows {
                let started = clock.now
                let readings = detector.observe(cells)
                _ = book.advance(readings: readings, cells: cells, at: UnixMicros(Int64(window) * 60_000_000)) { "inc" }
                if window >= 5 { elapsed += clock.now - started }
            }
            let perWindow = elapsed / (windows - 5)
            print(
                "\(detector.seriesCount) series, \(cells.count) combinations: \(perWindow.milliseconds) ms on one core per window (mean of \(windows - 5))"
            )
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "One incident: what deviates, where, the probable cause, whom it touches, what was done.",
            discussion: """
                Example:
                  switchyard incidents show inc_4Yx0…
                """)

        @OptionGroup var options: ConfigOptions
        @Argument(help: "The incident id.") var id: String
        @Option(help: "table or json.") var format: OutputFormat = .table

        func validate() throws {
            guard format != .csv else { throw ValidationError("--format must be table or json") }
        }

        func run() async throws {
            let (_, store) = try await options.openStore()
            let found = try await store.incident(id: id)
            await store.close()
            guard let found else { throw CLIError("no incident '\(id)'") }
            if format == .json {
                print(found.detail)
                return
            }
            print(Self.text(found.detail), terminator: "")
        }

        /// The stored JSON as lines a person reads.
        static func text(_ detail: String) -> String {
            guard let object = try? JSONSerialization.jsonObject(with: Data(detail.utf8)) as? [String: Any] else {
                return detail + "\n"
            }
            func string(_ key: String) -> String { object[key] as? String ?? "" }
            func list(_ key: String) -> String {
                let values = object[key] as? [String] ?? []
                return values.isEmpty ? "(none)" : values.joined(separator: ", ")
            }
            var lines = [
                ("incident", string("id")), ("status", string("status")), ("opened", string("opened_at")),
                ("resolved", string("resolved_at").isEmpty ? "(open)" : string("resolved_at")),
                ("summary", string("summary")), ("probable cause", string("cause")), ("tenants", list("tenants")),
                ("agents", list("agents")),
                ("routes", list("routes")), ("cost while open", string("cost")),
            ]
            for signal in object["signals"] as? [[String: Any]] ?? [] {
                lines.append(("signal", "\(signal["summary"] as? String ?? "") since \(signal["since"] as? String ?? "")"))
            }
            for mitigation in object["mitigations"] as? [[String: Any]] ?? [] {
                var text =
                    "\(mitigation["action"] as? String ?? "") \(mitigation["target"] as? String ?? "") at \(mitigation["at"] as? String ?? "")"
                if let refused = mitigation["refused"] as? String { text += " (\(refused))" }
                if let undone = mitigation["undone_at"] as? String { text += ", undone at \(undone)" }
                lines.append(("mitigation", text))
            }
            let width = lines.map(\.0.count).max() ?? 0
            return lines.map { $0.0.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + $0.1 + "\n" }.joined()
        }
    }
}
