import ArgumentParser
import Foundation
import Storage
import SwitchyardCore

struct Runs: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Agent runs: what each long-lived unit of agent work used, cost and did.",
        discussion: """
            A request belongs to a run when it carries x-switchyard-run (or gen_ai.conversation.id in its trace's \
            baggage). Figures come from the ledger, over every replica, as of its last batch.
            """,
        subcommands: [List.self, Show.self])

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Runs, most recently active first.",
            discussion: """
                Examples:
                  switchyard runs list
                  switchyard runs list --tenant acme --active-since 1h --format json
                """)

        @OptionGroup var options: ConfigOptions
        @Option(help: "Only this tenant's runs.") var tenant: String?
        @Option(help: "Only this agent's runs.") var agent: String?
        @Option(help: "Only runs active since: a date, a time, or a span back from now (1h, 7d).") var activeSince: String?
        @Option(help: "At most this many runs (1 to \(RunQuery.maximumLimit)).") var limit: Int = 50
        @Option(help: "table or json.") var format: OutputFormat = .table

        func validate() throws {
            guard (1...RunQuery.maximumLimit).contains(limit) else {
                throw ValidationError("--limit must be from 1 to \(RunQuery.maximumLimit)")
            }
            guard format != .csv else { throw ValidationError("--format must be table or json") }
        }

        func run() async throws {
            var query = RunQuery(tenant: tenant, agent: agent, limit: limit)
            query.activeSince = try activeSince.map { try TimeArgument.parse($0, relativeDirection: -1) }
            let (_, store) = try await options.openStore()
            let runs = try await store.runs(query)
            await store.close()
            if format == .json {
                print(String(decoding: AgentRun.json(runs, withHours: false), as: UTF8.self))
                return
            }
            let rows = runs.map { run in
                [
                    run.tenant, run.id, run.agent ?? "", run.startedAt.rfc3339Seconds, run.lastActivity.rfc3339Seconds,
                    Runs.durationText(run.duration), String(run.requests), String(run.errors),
                    String(run.inputTokens + run.outputTokens), Runs.costText(run.costs), String(run.loops),
                    run.stoppedBy == nil ? "" : "stopped",
                ]
            }
            print(
                OutputFormat.render(
                    .table,
                    header: [
                        "tenant", "run", "agent", "started", "last_activity", "duration", "requests", "errors", "tokens", "cost",
                        "loops", "state",
                    ], rows: rows), terminator: "")
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "One run: totals, models, cost per hour and per step, loops, and the kill switch that stopped it.",
            discussion: """
                Examples:
                  switchyard runs show nightly-2026-12-07
                  switchyard runs show nightly-2026-12-07 --tenant acme --format json
                """)

        @OptionGroup var options: ConfigOptions
        @Argument(help: "The run id (x-switchyard-run).") var run: String
        @Option(help: "The run's tenant (needed when several tenants have a run of this id).") var tenant: String?
        @Option(help: "table or json.") var format: OutputFormat = .table

        func validate() throws {
            guard format != .csv else { throw ValidationError("--format must be table or json") }
        }

        func run() async throws {
            let (_, store) = try await options.openStore()
            let runs = try await store.runs(id: run, tenant: tenant)
            await store.close()
            guard let found = runs.first else { throw CLIError("no run named '\(run)'") }
            guard runs.count == 1 else {
                throw CLIError(
                    "runs named '\(run)' exist in several tenants (\(runs.map(\.tenant).joined(separator: ", "))): add --tenant")
            }
            if format == .json {
                print(String(decoding: found.json, as: UTF8.self))
                return
            }
            var lines = [
                ("run", found.id), ("tenant", found.tenant), ("agent", found.agent ?? "(none)"),
                ("started", found.startedAt.rfc3339Seconds), ("last activity", found.lastActivity.rfc3339Seconds),
                ("duration", Runs.durationText(found.duration)), ("requests", String(found.requests)),
                ("errors", String(found.errors)), ("input tokens", String(found.inputTokens)),
                ("output tokens", String(found.outputTokens)), ("cost", Runs.costText(found.costs)),
                ("models", found.models.joined(separator: ", ")),
                ("loops", found.loops == 0 ? "0" : "\(found.loops) (the run repeated a prompt: it is looping)"),
                ("last step", found.lastStep ?? "(none)"),
            ]
            if let kill = found.stoppedBy {
                lines.append(("stopped", "by \(kill.engagedBy) at \(kill.engagedAt.rfc3339Seconds): \(kill.reason)"))
            }
            let width = lines.map(\.0.count).max() ?? 0
            var text = lines.map { $0.0.padding(toLength: width, withPad: " ", startingAt: 0) + "  " + $0.1 + "\n" }.joined()
            text += "\n"
            text += OutputFormat.render(
                .table, header: ["hour", "requests", "cost", "currency"],
                rows: found.hours.map {
                    [$0.start.rfc3339Seconds, String($0.requests), $0.cost.decimalString, $0.cost.currency]
                })
            if !found.steps.isEmpty {
                text += "\n"
                text += OutputFormat.render(
                    .table,
                    header: ["step", "first", "last", "requests", "errors", "tokens", "cost", "currency"],
                    rows: found.steps.map {
                        [
                            $0.name ?? "(no step)", $0.firstAt.rfc3339Seconds, $0.lastAt.rfc3339Seconds, String($0.requests),
                            String($0.errors), String($0.inputTokens + $0.outputTokens), $0.cost.decimalString,
                            $0.cost.currency,
                        ]
                    })
                if found.moreSteps { text += "(only the first \(AgentRun.maximumSteps) steps, in the order they began)\n" }
            }
            print(text, terminator: "")
        }
    }

    static func durationText(_ duration: Duration) -> String {
        let seconds = duration.components.seconds
        return seconds >= 3600
            ? "\(seconds / 3600)h\(String(format: "%02d", (seconds % 3600) / 60))m"
            : "\(seconds / 60)m\(String(format: "%02d", seconds % 60))s"
    }

    static func costText(_ costs: [Money]) -> String {
        costs.isEmpty ? "0" : costs.map { "\($0.decimalString) \($0.currency)" }.joined(separator: " + ")
    }
}
