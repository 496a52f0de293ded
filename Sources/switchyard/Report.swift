import ArgumentParser
import Foundation
import Storage
import SwitchyardCore

struct Report: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Reports from the usage ledger.",
        subcommands: [Usage.self, Cost.self, Unit.self, Commitments.self, Concentration.self])

    struct Usage: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Requests, tokens and cost, grouped by one dimension.",
            discussion: """
                Costs are exact: summed from each record's integer nano-units and printed in currency \
                units with 9 decimals; different currencies are never added together. 'estimated' counts \
                requests whose tokens Switchyard counted itself because the upstream reported none.

                Examples:
                  switchyard report usage --by tenant
                  switchyard report usage --by model --since 7d --format csv
                  switchyard report usage --by agent --since 2026-11-01 --until 2026-12-01 --format json
                """)

        @OptionGroup var options: ConfigOptions
        @Option(help: "Group by: \(UsageDimension.allCases.map(\.rawValue).joined(separator: "|")).")
        var by: UsageDimension = .tenant
        @Option(help: "Start (inclusive): a date, a time, or a span back from now (24h, 7d).") var since: String?
        @Option(help: "End (exclusive): a date, a time, or a span back from now.") var until: String?
        @Option(help: "table, csv or json.") var format: OutputFormat = .table

        func run() async throws {
            let sinceTime = try since.map { try TimeArgument.parse($0, relativeDirection: -1) }
            let untilTime = try until.map { try TimeArgument.parse($0, relativeDirection: -1) }
            let (_, store) = try await options.openStore()
            let summaries = try await store.usageSummary(by: by, since: sinceTime, until: untilTime)
            await store.close()
            let header = [
                by.rawValue, "requests", "errors", "input_tokens", "output_tokens", "cached_input_tokens", "estimated", "cost",
                "currency",
            ]
            let rows = summaries.map { summary in
                [
                    summary.group ?? "(none)", String(summary.requests), String(summary.errors), String(summary.inputTokens),
                    String(summary.outputTokens), String(summary.cachedInputTokens), String(summary.estimatedRequests),
                    Money.format(nanos: summary.costNanos), summary.currency,
                ]
            }
            print(
                OutputFormat.render(
                    format, header: header + (format == .json ? ["cost_nanos"] : []),
                    rows: format == .json ? zip(rows, summaries).map { $0 + [String($1.costNanos)] } : rows), terminator: "")
        }
    }
}

extension UsageDimension: ExpressibleByArgument {}
