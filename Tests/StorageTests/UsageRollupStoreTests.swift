import FinOps
import Foundation
import SwitchyardCore
import TestSupport
import Testing

@testable import Storage

@Suite struct UsageRollupStoreTests {
    static let target = LedgerGenerator.Target(
        route: "chat", deployment: "mini", provider: "openai", model: "gpt-4o-mini",
        prices: PriceSchedule(TokenPrices(inputPerMillion: Decimal(string: "0.15")!, outputPerMillion: Decimal(string: "0.60")!)))

    @Test(arguments: TestEngine.available)
    func rollupsSumTheRecordsAndReplaysAreNotCountedTwice(_ engine: TestEngine) async throws {
        let store = try await SQLStore.open(try engine.freshURL())
        let start = UnixMicros(dateOrTimestamp: "2026-10-01")!
        let end = UnixMicros(dateOrTimestamp: "2026-10-08")!
        var records: [UsageRecord] = []
        LedgerGenerator(targets: [Self.target], seed: 5).generate(count: 3_000, from: start, to: end, batchSize: 700) {
            records += $0
        }
        for batch in stride(from: 0, to: records.count, by: 700).map({ Array(records[$0..<min($0 + 700, records.count)]) }) {
            try await store.insertUsage(batch)
        }
        // A journal replay of records already stored adds nothing, nor does a record given twice.
        try await store.insertUsage(Array(records.prefix(1_000)))
        let extra = UsageRecord(
            id: "twice", startedAt: start, finishedAt: start, tenant: "t", agent: nil, keyID: nil, endpoint: "e", route: "chat",
            deployment: "mini", provider: "openai", upstreamModel: "gpt-4o-mini", streamed: false, usage: .none,
            cost: Money(nanos: 5, currency: "USD"), latencyMicros: 1, timeToFirstTokenMicros: nil, status: 200,
            errorClass: nil, tags: ["customer": "x"])
        try await store.insertUsage([extra, extra])
        records.append(extra)
        let rollups = try await store.usageRollups(since: start, until: end)
        #expect(rollups.reduce(0) { $0 + $1.requests } == Int64(records.count))
        #expect(rollups.reduce(0) { $0 + $1.costNanos } == records.reduce(0) { $0 + $1.cost.nanos })
        #expect(rollups.reduce(0) { $0 + $1.usage.reasoningTokens } == records.reduce(0) { $0 + $1.usage.reasoningTokens })
        #expect(rollups.reduce(0) { $0 + $1.busyMicros } == records.reduce(0) { $0 + $1.latencyMicros })
        let report = CostReport(rollups: rollups, by: .tag("customer"), period: ReportPeriod(start: start, end: end))
        var expected: [String: Int64] = [:]
        for record in records { expected[record.tags["customer"]!, default: 0] += record.cost.nanos }
        #expect(Dictionary(uniqueKeysWithValues: report.rows.map { ($0.group!, $0.usageNanos) }) == expected)
        // Summed in SQL down to the grouped attributes, the report is the same and reads fewer rows.
        let narrow = try await store.usageRollups(since: start, until: end, keeping: [.tags, .deployment])
        #expect(narrow.count < rollups.count)
        #expect(narrow.allSatisfy { $0.tenant == nil && $0.agent == nil && $0.deployment == "mini" })
        let narrowReport = CostReport(rollups: narrow, by: .tag("customer"), period: ReportPeriod(start: start, end: end))
        #expect(Dictionary(uniqueKeysWithValues: narrowReport.rows.map { ($0.group!, $0.usageNanos) }) == expected)
        let byTenant = try await store.usageRollups(since: start, until: end, keeping: [.tenant])
        #expect(byTenant.reduce(0) { $0 + $1.busyMicros } == records.reduce(0) { $0 + $1.latencyMicros })
        #expect(Set(byTenant.compactMap(\.tenant)) == Set(records.compactMap(\.tenant)))
        // Records keep cache-write and reasoning tokens.
        let stored = try await store.usageRecord(id: records[10].id)
        #expect(stored?.usage == records[10].usage)
        // A time window selects whole hours.
        let oneDay = try await store.usageRollups(since: start, until: UnixMicros(dateOrTimestamp: "2026-10-02")!)
        #expect(oneDay.allSatisfy { $0.bucketStart < UnixMicros(dateOrTimestamp: "2026-10-02")! })
        await store.close()
    }

    /// Grouped by neither key nor tags, reports read the coarse rollups: every group's sums there
    /// are the full rollups' to the unit, tenant filter included.
    @Test(arguments: TestEngine.available)
    func coarseRollupsHoldTheFullRollupsSums(_ engine: TestEngine) async throws {
        let store = try await SQLStore.open(try engine.freshURL())
        let start = UnixMicros(dateOrTimestamp: "2026-10-01")!
        let end = UnixMicros(dateOrTimestamp: "2026-10-04")!
        var records: [UsageRecord] = []
        LedgerGenerator(targets: [Self.target], seed: 9).generate(count: 2_000, from: start, to: end, batchSize: 300) {
            records += $0
        }
        for batch in stride(from: 0, to: records.count, by: 300).map({ Array(records[$0..<min($0 + 300, records.count)]) }) {
            try await store.insertUsage(batch)
        }
        struct Group: Hashable {
            var hour: Int64, tenant: String?, agent: String?, route: String?, deployment: String?, model: String?
        }
        struct Sums: Equatable {
            var requests: Int64 = 0, errors: Int64 = 0, tokens = 0, cost: Int64 = 0, busy: Int64 = 0
        }
        func sums(_ rollups: [UsageRollup]) -> [Group: Sums] {
            var sums: [Group: Sums] = [:]
            for rollup in rollups {
                let group = Group(
                    hour: rollup.bucketStart.value, tenant: rollup.tenant, agent: rollup.agent, route: rollup.route,
                    deployment: rollup.deployment, model: rollup.model)
                sums[group, default: Sums()].requests += rollup.requests
                sums[group, default: Sums()].errors += rollup.errors
                sums[group, default: Sums()].tokens += rollup.usage.inputTokens + rollup.usage.outputTokens
                sums[group, default: Sums()].cost += rollup.costNanos
                sums[group, default: Sums()].busy += rollup.busyMicros
            }
            return sums
        }
        let full = try await store.usageRollups(since: start, until: end)
        let coarse = try await store.usageRollups(
            since: start, until: end, keeping: [.tenant, .agent, .route, .deployment, .model])
        #expect(coarse.count < full.count)
        #expect(sums(coarse) == sums(full))
        #expect(sums(coarse).values.reduce(0) { $0 + $1.requests } == Int64(records.count))
        let acme = try await store.usageRollups(since: start, until: end, keeping: [.tenant], tenant: "acme")
        #expect(Set(acme.map(\.tenant)) == ["acme"])
        #expect(acme.reduce(0) { $0 + $1.costNanos } == records.filter { $0.tenant == "acme" }.reduce(0) { $0 + $1.cost.nanos })
        await store.close()
    }

    /// A cost report by one tag from the tag rollups (with the coarse rollups' remainder for the
    /// traffic without it) is the full rollups' report to the nano-unit, for the gateway and for
    /// one tenant; migration 18's backfill rebuilds the same rows from the full rollups.
    @Test(arguments: TestEngine.available)
    func tagRollupsGiveTheFullRollupsTagReport(_ engine: TestEngine) async throws {
        let url = try engine.freshURL()
        let store = try await SQLStore.open(url)
        let start = UnixMicros(dateOrTimestamp: "2026-10-01")!
        let end = UnixMicros(dateOrTimestamp: "2026-10-03")!
        var records: [UsageRecord] = []
        LedgerGenerator(targets: [Self.target], seed: 11).generate(count: 1_500, from: start, to: end, batchSize: 500) {
            records += $0
        }
        for index in records.indices where index % 7 == 0 { records[index].tags = index % 14 == 0 ? [:] : ["trace": "t\(index)"] }
        for batch in stride(from: 0, to: records.count, by: 500).map({ Array(records[$0..<min($0 + 500, records.count)]) }) {
            try await store.insertUsage(batch)
        }
        func report(_ rollups: [UsageRollup]) -> [String: [Int64]] {
            let report = CostReport(rollups: rollups, by: .tag("customer"), period: ReportPeriod(start: start, end: end))
            return Dictionary(
                uniqueKeysWithValues: report.rows.map {
                    (
                        $0.group ?? "(none)",
                        [$0.requests, $0.errors, Int64($0.inputTokens), Int64($0.outputTokens), $0.usageNanos]
                    )
                })
        }
        let full = try await store.usageRollups(since: start, until: end, keeping: [.tags, .deployment, .tenant])
        let expected = report(full)
        #expect(expected["(none)"] != nil && expected.count > 5)
        #expect(report(try await store.usageRollups(since: start, until: end, byTag: "customer")) == expected)
        #expect(
            report(try await store.usageRollups(since: start, until: end, byTag: "customer", tenant: "acme"))
                == report(full.filter { $0.tenant == "acme" }))
        #expect(try await store.usageRollups(since: start, until: end, byTag: "no-such-tag").allSatisfy(\.tags.isEmpty))
        // Unit economics by tenant count tasks by one tag: the tag rollups per tenant give the same.
        let marker = UnitEconomics.TaskMarker(key: "customer", value: "cust-3")
        func unit(_ rollups: [UsageRollup]) -> [String] {
            UnitEconomics(
                rollups: rollups, by: .tenant, period: ReportPeriod(start: start, end: end), taskMarker: marker
            ).rows.map { "\($0.group ?? "") \($0.current.requests) \($0.current.tasks) \($0.current.costNanos)" }
        }
        let perTenant = try await store.usageRollups(since: start, until: end, byTag: "customer", keepingTenant: true)
        #expect(unit(perTenant) == unit(full))
        #expect(unit(full).allSatisfy { !$0.hasSuffix(" 0 0") })
        await store.close()

        let connection: any SQLConnection =
            switch url {
            case .sqlite(let path): try SQLiteConnection(path: path)
            case .postgres(let text): try PostgresConnection(url: text)
            }
        let step = try #require(Migrations.steps.first { $0.version == 18 }?.sql)
        let insert = try #require(step.range(of: "INSERT INTO usage_rollups_tags"))
        let index = try #require(step.range(of: "CREATE UNIQUE INDEX usage_rollups_tags_key"))
        let backfill = String(step[insert.lowerBound..<index.lowerBound])
        try connection.executeScript("DELETE FROM usage_rollups_tags")
        try connection.executeScript(Migrations.sql(backfill, for: connection.dialect))
        connection.close()
        let reopened = try await SQLStore.open(url)
        #expect(report(try await reopened.usageRollups(since: start, until: end, byTag: "customer")) == expected)
        // Hours an older replica wrote only in the full rollups (here: the coarse and tag rows of the
        // first day lost) are made whole by the rebuild, and nothing else changes.
        let day = UnixMicros(dateOrTimestamp: "2026-10-02")!
        let damaged: any SQLConnection =
            switch url {
            case .sqlite(let path): try SQLiteConnection(path: path)
            case .postgres(let text): try PostgresConnection(url: text)
            }
        for table in ["usage_rollups_coarse", "usage_rollups_tags"] {
            try damaged.query("DELETE FROM \(table) WHERE bucket_start < ?", [.integer(day.value)])
        }
        damaged.close()
        #expect(report(try await reopened.usageRollups(since: start, until: end, byTag: "customer")) != expected)
        #expect(try await reopened.rebuildNarrowRollups(since: start, until: day) == 24)
        #expect(report(try await reopened.usageRollups(since: start, until: end, byTag: "customer")) == expected)
        let coarse = try await reopened.usageRollups(since: start, until: end, keeping: [.tenant, .deployment])
        #expect(coarse.reduce(0) { $0 + $1.costNanos } == full.reduce(0) { $0 + $1.costNanos })
        await reopened.close()
    }

    @Test(arguments: TestEngine.available)
    func rollupsKeepOnlyTheConfiguredTagKeys(_ engine: TestEngine) async throws {
        let store = try await SQLStore.open(try engine.freshURL(), rollupTagKeys: ["customer"])
        let start = UnixMicros(dateOrTimestamp: "2026-10-05T10:00:00Z")!
        let records = (0..<50).map { index in
            UsageRecord(
                id: "t\(index)", startedAt: start, finishedAt: start, tenant: "acme", agent: nil, keyID: nil, endpoint: "e",
                route: "chat", deployment: "mini", provider: "openai", upstreamModel: "gpt-4o-mini", streamed: false,
                usage: .none, cost: Money(nanos: 3, currency: "USD"), latencyMicros: 1, timeToFirstTokenMicros: nil,
                status: 200, errorClass: nil, tags: ["customer": index % 2 == 0 ? "a" : "b", "trace": "tr-\(index)"])
        }
        try await store.insertUsage(records)
        let rollups = try await store.usageRollups(since: start)
        // One rollup per customer instead of one per trace id; the records keep every tag.
        #expect(rollups.count == 2)
        #expect(Set(rollups.map(\.tags)) == [["customer": "a"], ["customer": "b"]])
        #expect(rollups.reduce(0) { $0 + $1.costNanos } == 150)
        #expect(try await store.usageRecord(id: "t7")?.tags["trace"] == "tr-7")
        await store.close()
    }

    @Test(arguments: TestEngine.available)
    func modelPricesKeepTheirHistory(_ engine: TestEngine) async throws {
        let store = try await SQLStore.open(try engine.freshURL())
        let old = StoredModelPrice(
            model: "m", effectiveFrom: UnixMicros(0), source: "a",
            prices: TokenPrices(inputPerMillion: Decimal(string: "0.0375")!, outputPerMillion: 3), contextWindow: 1000)
        var new = old
        new.effectiveFrom = UnixMicros(dateOrTimestamp: "2026-11-01")!
        new.prices = TokenPrices(
            inputPerMillion: 1, outputPerMillion: 2, cacheWritePerMillion: Decimal(string: "1.25")!,
            perRequest: Decimal(string: "0.01")!)
        try await store.upsertModelPrices([old, new])
        try await store.upsertModelPrices([new])
        let prices = try await store.modelPrices()
        #expect(prices == [old, new])
        await store.close()
    }
}
