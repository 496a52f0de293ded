import ArgumentParser
import ControlPlane
import Foundation

struct ProbesCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "probes",
        abstract: "Canary-fact probes: each deployment's long-context recall, and the scorecard per provider and model.",
        discussion: """
            Read from the store. `serve` runs the probes (probes: in the configuration); see the \
            README, "Incidents and probes".
            """,
        subcommands: [Scorecard.self])

    struct Scorecard: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Quality, recall by length, p95 latency, errors, cost per 1M tokens and availability.",
            discussion: """
                Examples:
                  switchyard probes scorecard
                  switchyard probes scorecard --format json
                """)

        @OptionGroup var options: ConfigOptions
        @Option(help: "table or json.") var format: OutputFormat = .table

        func validate() throws {
            guard format != .csv else { throw ValidationError("--format must be table or json") }
        }

        func run() async throws {
            let (configuration, store) = try await options.openStore()
            let rows = try await ProbeScorecard.rows(configuration: configuration, store: store)
            await store.close()
            if format == .json {
                print(ProbeScorecard.json(rows))
                return
            }
            let table = ProbeScorecard.table(rows)
            print(OutputFormat.render(.table, header: table.header, rows: table.rows), terminator: "")
        }
    }
}
