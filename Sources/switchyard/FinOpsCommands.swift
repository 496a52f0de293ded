import ArgumentParser
import ControlPlane
import DataPlane
import FinOps
import Foundation
import Storage
import SwitchyardConfig
import SwitchyardCore

extension ReportTable.Format: ExpressibleByArgument {}
extension TimeBucket: ExpressibleByArgument {}

/// The options every FinOps report shares.
struct ReportOptions: ParsableArguments {
    @OptionGroup var config: ConfigOptions
    @Option(help: "Start (inclusive): a date, a time, or a span back from now (24h, 7d). Default: start of this month.")
    var since: String?
    @Option(help: "End (exclusive): a date, a time, or a span back from now. Default: now.") var until: String?
    @Option(help: "table, csv or json.") var format: ReportTable.Format = .table

    /// The period, widened to whole hours (the ledger rollups' grain).
    func period() throws -> ReportPeriod {
        let now = UnixMicros.now()
        let end = try until.map { try TimeArgument.parse($0, relativeDirection: -1) } ?? now
        let start =
            try since.map { try TimeArgument.parse($0, relativeDirection: -1) } ?? CalendarPeriod.month(containing: end).start
        guard start < end else { throw ValidationError("--since must be before --until") }
        return ReportPeriod(start: start, end: end)
    }

    /// Loads the configuration (with catalog prices) and the store.
    func open() async throws -> (SwitchyardConfiguration, SQLStore) {
        var (configuration, store) = try await config.openStore()
        _ = try await CostReporting.priceFromCatalog(&configuration, store: store)
        return (configuration, store)
    }

    func run(_ query: ReportQuery) async throws {
        let (configuration, store) = try await open()
        let table = try await CostReporting.report(query, store: store, context: CostReporting.context(configuration))
        await store.close()
        print(table.render(format), terminator: "")
    }
}

extension Report {
    struct Cost: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Cost grouped by a dimension or a tag, with self-hosted capacity allocated and idle capacity apart.",
            discussion: """
                --by takes tenant, agent, key, route, deployment, provider, model, or any caller tag key \
                (e.g. customer, feature). Costs are exact decimals from integer nano-units; self-hosted \
                capacity (deployments with 'capacity') is allocated by request-time and its unused part is \
                reported on 'idle:<deployment>' rows.

                Examples:
                  switchyard report cost --by customer --since 2026-11-01
                  switchyard report cost --by model --bucket day --format csv
                """)
        @OptionGroup var options: ReportOptions
        @Option(help: "A dimension or a tag key.") var by = "tenant"
        @Option(help: "Split into hour, day or month buckets (UTC).") var bucket: TimeBucket?

        func run() async throws {
            try await options.run(
                ReportQuery(kind: .cost, dimension: CostDimension(by), bucket: bucket, period: options.period()))
        }
    }

    struct Unit: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Cost per request, per 1K output tokens and per successful task, against the previous period.")
        @OptionGroup var options: ReportOptions
        @Option(help: "A dimension or a tag key.") var by = "tenant"
        @Option(help: "The tag that marks a finished task (key=value).") var taskTag = "outcome=success"

        func run() async throws {
            let parts = taskTag.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2 else { throw ValidationError("--task-tag must be key=value") }
            try await options.run(
                ReportQuery(
                    kind: .unit, dimension: CostDimension(by), period: options.period(),
                    taskMarker: .init(key: parts[0], value: parts[1])))
        }
    }

    struct Commitments: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Provider contracts: use to date, forecast to the end of the period, shortfall or overage.",
            discussion: "The forecast extrapolates the last 7 days (or the period so far). --until sets the 'as of' time.")
        @OptionGroup var options: ReportOptions

        func run() async throws {
            let period = try options.period()
            let asOf = try options.until.map { try TimeArgument.parse($0, relativeDirection: -1) } ?? .now()
            try await options.run(ReportQuery(kind: .commitments, period: period, asOf: asOf))
        }
    }

    struct Concentration: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Shares of spend and traffic per provider and model, the HHI, and single-provider routes.")
        @OptionGroup var options: ReportOptions
        @Option(help: "Currency to measure shares in.") var currency = "USD"

        func run() async throws {
            try await options.run(ReportQuery(kind: .concentration, period: options.period(), currency: currency))
        }
    }
}

struct Simulate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Re-price recorded traffic under a what-if scenario and show the difference by tenant and route.",
        discussion: """
            The scenario file (YAML) can declare hypothetical deployments, replace prices, move a share of a \
            route's traffic to another deployment, and apply provider discounts. Token counts are kept as \
            recorded. With an empty scenario the result equals the recorded cost.

            Example scenario — the same traffic on a model at $1 per million tokens:
              deployments:
                - {name: cheap, provider: newco, model: cheap-1, price: {input_per_mtok: 1, output_per_mtok: 1}}
              moves:
                - {route: chat, to: cheap, share: 1}
            """)
    @OptionGroup var options: ReportOptions
    @Option(help: "Scenario file (YAML).") var scenario: String

    func run() async throws {
        let what: Scenario
        do {
            what = try ScenarioLoader.load(path: scenario)
        } catch let error as ConfigurationError {
            throw CLIError("invalid scenario: \(error)")
        }
        let (configuration, store) = try await options.open()
        let context = CostReporting.context(configuration)
        let known = Set(context.deployments.keys).union(what.deployments.map(\.name))
        for move in what.moves where !known.contains(move.to) {
            await store.close()
            throw CLIError("invalid scenario: move to '\(move.to)': no such deployment in the configuration or the scenario")
        }
        let period = try options.period()
        let rollups = try await store.usageRollups(
            since: period.start, until: period.end, keeping: CostReporting.simulationAttributes)
        await store.close()
        let simulation = Simulation(rollups: rollups, period: period, deployments: context.deployments, scenario: what)
        let header = ["level", "name", "actual", "scenario", "difference", "currency"]
        var rows: [[String?]] = []
        for (level, lines) in [("total", simulation.total), ("tenant", simulation.byTenant), ("route", simulation.byRoute)] {
            for line in lines {
                rows.append([
                    level, line.group ?? "(none)", Money.format(nanos: line.actualNanos), Money.format(nanos: line.scenarioNanos),
                    Money.format(nanos: line.differenceNanos), line.currency,
                ])
            }
        }
        let table = ReportTable(header: header, rows: rows, notes: simulation.assumptions.map { "assumes: \($0)" })
        print(table.render(options.format), terminator: "")
    }
}

struct Export: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Export the ledger for other tools.", subcommands: [Focus.self])

    struct Focus: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Cost rows in the FinOps FOCUS 1.2 column set (CSV or JSON).",
            discussion: """
                One row per hour, deployment, tenant/agent/key/route/tags and priced component. ListCost is the \
                recorded cost; ContractedCost, BilledCost and EffectiveCost apply a provider contract's discount.
                """)
        @OptionGroup var options: ReportOptions
        @Option(help: "Billing account id written in BillingAccountId.") var billingAccount = "switchyard"

        func run() async throws {
            let (configuration, store) = try await options.open()
            let period = try options.period()
            let rollups = try await store.usageRollups(since: period.start, until: period.end)
            await store.close()
            let context = CostReporting.context(configuration)
            let rows = FocusExport.rows(
                rollups: rollups, period: period,
                context: .init(
                    billingAccount: billingAccount, prices: context.deployments.mapValues(\.prices), regions: context.regions,
                    commitments: context.commitments))
            if options.format == .json {
                print(ReportTable(header: FocusExport.columns, rows: rows).render(.json), terminator: "")
                return
            }
            // CSV row by row through a buffer: an export can be millions of lines.
            var buffer = ReportTable.csvLine(FocusExport.columns)
            for row in rows {
                buffer += ReportTable.csvLine(row)
                if buffer.utf8.count > 1 << 20 {
                    FileHandle.standardOutput.write(Data(buffer.utf8))
                    buffer = ""
                }
            }
            FileHandle.standardOutput.write(Data(buffer.utf8))
        }
    }
}

struct Prices: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "The model price catalog used for deployments without a price in the configuration.",
        subcommands: [Import.self, List.self])

    struct Import: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Import LiteLLM's model_prices_and_context_window.json into the store.",
            discussion: """
                Per-token costs become prices per million tokens (exact decimals); cached-input, cache-write and \
                reasoning costs are kept when present. Prices take effect from --effective (default: now, to the \
                hour); older prices stay as history, so records are never re-priced.
                """)
        @OptionGroup var config: ConfigOptions
        @Argument(help: "The JSON file.") var file: String
        @Option(help: "When the prices take effect: a date or time (default: this hour).") var effective: String?
        @Flag(help: "List every skipped model and why.") var verbose = false

        func run() async throws {
            guard let data = FileManager.default.contents(atPath: file) else { throw CLIError("cannot read \(file)") }
            let from = try effective.map { try TimeArgument.parse($0, relativeDirection: -1) } ?? .now()
            let hour = CalendarPeriod.hour(containing: from).start
            let result: LiteLLMPriceFile.Result
            do {
                result = try LiteLLMPriceFile.parse(
                    Array(data), effectiveFrom: hour, source: "litellm:" + (file as NSString).lastPathComponent)
            } catch {
                throw CLIError("\(file) is not a LiteLLM price file: \(error)")
            }
            let (_, store) = try await config.openStore()
            try await store.upsertModelPrices(
                result.mapped.map {
                    StoredModelPrice(
                        model: $0.model, effectiveFrom: $0.effectiveFrom, source: $0.source, prices: $0.prices,
                        contextWindow: $0.contextWindow)
                })
            await store.close()
            print(
                "imported \(result.mapped.count) models, effective \(FocusExport.timestamp(hour)); skipped \(result.skipped.count)"
            )
            let reasons = Dictionary(grouping: result.skipped, by: \.reason)
            for (reason, models) in reasons.sorted(by: { $0.key < $1.key }) {
                print(
                    "  skipped \(models.count): \(reason)"
                        + (verbose ? ": " + models.map(\.model).sorted().joined(separator: ", ") : ""))
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "What each deployment is priced at now, and from where.")
        @OptionGroup var options: ReportOptions

        func run() async throws {
            let (configuration, store) = try await options.config.openStore()
            var priced = configuration
            let sources = try await CostReporting.priceFromCatalog(&priced, store: store)
            await store.close()
            let rows: [[String?]] = priced.deployments.map { deployment in
                let prices = deployment.prices
                let source =
                    configuration.unpricedDeployments.contains(deployment.name)
                    ? (sources.priced[deployment.name] ?? "none (free)") : "configuration"
                return [
                    deployment.name, deployment.model, "\(prices.inputPerMillion)", "\(prices.outputPerMillion)",
                    "\(prices.perMillion(.cachedInput))", "\(prices.perMillion(.cacheWrite))", "\(prices.perMillion(.reasoning))",
                    "\(prices.perRequest)", prices.currency, source,
                ]
            }
            let header = [
                "deployment", "model", "input_per_mtok", "output_per_mtok", "cached_input_per_mtok", "cache_write_per_mtok",
                "reasoning_per_mtok", "per_request", "currency", "source",
            ]
            print(ReportTable(header: header, rows: rows).render(options.format), terminator: "")
        }
    }
}

struct LedgerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ledger", abstract: "Ledger tools: synthetic traffic, and rebuilding the narrow rollups.",
        subcommands: [Generate.self, RebuildRollups.self])

    struct RebuildRollups: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "rebuild-rollups",
            abstract:
                "Rebuild the coarse and tag rollups from the full hourly rollups (after an upgrade the old replicas wrote through).",
            discussion: """
                Replicas of a version before the coarse and tag rollups write only the full ones: once every \
                replica runs this version, rebuild the hours they wrote in. Runs in one transaction, with \
                the ledger's writes held off for its length on PostgreSQL.
                """)
        @OptionGroup var options: ConfigOptions
        @Option(help: "Start (inclusive): a date or time. Default: the first hour stored.") var since: String?
        @Option(help: "End (exclusive): a date or time. Default: now.") var until: String?

        func run() async throws {
            let start = try since.map { try TimeArgument.parse($0, relativeDirection: -1) } ?? UnixMicros(0)
            let end = try until.map { try TimeArgument.parse($0, relativeDirection: -1) } ?? UnixMicros(.max)
            let (_, store) = try await options.openStore()
            let clock = ContinuousClock.now
            let hours = try await store.rebuildNarrowRollups(since: start, until: end)
            await store.close()
            print("rebuilt the coarse and tag rollups of \(hours) hour(s) in \(ContinuousClock.now - clock)")
        }
    }

    struct Generate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Fill the store with a synthetic month of traffic on the configured deployments (demo, benchmark).",
            discussion: "Records get ids gen_<seed>_<n>: running it twice with one seed adds nothing the second time.")
        @OptionGroup var options: ReportOptions
        @Option(help: "How many records.") var records = 100_000
        @Option(help: "The month to fill, e.g. 2026-10.") var month: String
        @Option(help: "Random seed.") var seed: UInt64 = 42

        func run() async throws {
            guard let start = UnixMicros(dateOrTimestamp: month + "-01") else { throw ValidationError("--month must be YYYY-MM") }
            let (configuration, store) = try await options.open()
            let targets = configuration.routes.flatMap { route in
                route.targets.compactMap { target in
                    configuration.deployment(named: target.deployment).map {
                        LedgerGenerator.Target(
                            route: route.name, deployment: $0.name, provider: $0.provider, model: $0.model,
                            prices: $0.priceSchedule)
                    }
                }
            }
            guard !targets.isEmpty else { throw CLIError("the configuration has no routes to generate traffic for") }
            let generator = LedgerGenerator(targets: targets, seed: seed)
            let clock = ContinuousClock.now
            for batch in generator.batches(count: records, from: start, to: CalendarPeriod.month(containing: start).end) {
                try await store.insertUsage(batch)
            }
            await store.close()
            print("inserted \(records) records in \(ContinuousClock.now - clock)")
        }
    }
}
