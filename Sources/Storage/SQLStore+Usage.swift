import Foundation
import SwitchyardCore

extension SQLStore {
    static let usageColumns = """
        id, started_at, finished_at, tenant, agent, key_id, endpoint, route, deployment, provider, upstream_model, \
        streamed, input_tokens, output_tokens, cached_input_tokens, usage_estimated, cost_nanos, currency, latency_us, \
        ttft_us, status, error_class, tags, attempts, cache_write_tokens, reasoning_tokens, replica, trace_id, run_id, \
        run_step, run_loop
        """

    /// Inserts records and adds them to the hourly rollups, in one transaction. Records already
    /// stored (same id) are skipped and not counted again, so a journal replay after a partial
    /// write is harmless.
    ///
    /// Records go in multi-row statements of up to `rowsPerStatement` (one round trip each on
    /// PostgreSQL); `RETURNING id` names the rows actually inserted, and only those are rolled up.
    public func insertUsage(_ records: [UsageRecord]) async throws {
        guard !records.isEmpty else { return }
        let statements = Self.insertStatements(for: records)
        let tagKeys = rollupTagKeys
        let (writer, openedAt) = (writerID, self.openedAt)
        try await run(.ledger) { connection in
            try connection.transaction {
                var inserted: Set<String> = []
                for (sql, binds) in statements {
                    for row in try connection.query(sql, binds) { if let id = row[0].text { inserted.insert(id) } }
                }
                var rollups: [UsageRollup.Key: UsageRollup] = [:]
                var runs = RunDeltas(writer: writer, since: openedAt)
                // `remove`: a record given twice in one batch is rolled up once, like it is stored once.
                for record in records where inserted.remove(record.id) != nil {
                    var rollup = UsageRollup(record)
                    if let tagKeys { rollup.tags = rollup.tags.filter { tagKeys.contains($0.key) } }
                    rollups[rollup.key, default: rollup.emptied].absorb(rollup)
                    runs.add(record)
                }
                // Keyed as stored ('' for absent), so one multi-row upsert never names a row twice.
                var coarse: [String: UsageRollup] = [:]
                var tagged: [String: UsageRollup] = [:]
                // Every replica takes the rows' locks in one order (PostgreSQL): two batches
                // touching the same hours cannot deadlock.
                for rollup in rollups.values.sorted(by: UsageRollup.lockOrder) {
                    try connection.query(Self.rollupUpsert, Self.binds(rollup))
                    var lean = rollup
                    (lean.keyID, lean.agent, lean.route, lean.provider, lean.model, lean.tags) = (nil, nil, nil, nil, nil, [:])
                    for (key, value) in rollup.tags {
                        var pair = lean
                        pair.tags = [key: value]
                        tagged[Self.storedKey(Self.tagBinds(pair).prefix(6)), default: pair.emptied].absorb(pair)
                    }
                    lean = rollup
                    (lean.keyID, lean.tags) = (nil, [:])
                    coarse[Self.storedKey(Self.binds(lean).prefix(10)), default: lean.emptied].absorb(lean)
                }
                for (sql, binds) in Self.multiRowStatements(
                    coarse.values.sorted(by: UsageRollup.lockOrder), texts: Self.coarseUpsertTexts, columns: 20,
                    binds: Self.binds)
                {
                    try connection.query(sql, binds)
                }
                for (sql, binds) in Self.multiRowStatements(
                    tagged.values.sorted(by: UsageRollup.lockOrder), texts: Self.tagUpsertTexts, columns: 16,
                    binds: Self.tagBinds)
                {
                    try connection.query(sql, binds)
                }
                for (sql, binds) in runs.statements { try connection.query(sql, binds) }
            }
        }
    }

    /// 31 parameters a row: 100 rows stay well under SQLite's and PostgreSQL's parameter limits.
    static let rowsPerStatement = 100
    static let usageColumnCount = 31

    /// The row counts a statement may have: full statements, then the rest by powers of two.
    /// Eight texts in all, so each is built once and stays prepared (SQLite's statement cache); a
    /// statement per remainder size was a new text, built and parsed, for nearly every batch.
    static let statementRowCounts = [rowsPerStatement, 64, 32, 16, 8, 4, 2, 1]

    /// Row counts of the statements that insert `count` records, largest first.
    static func statementSizes(for count: Int) -> [Int] {
        var sizes: [Int] = []
        var rest = count
        for rows in statementRowCounts {
            while rest >= rows {
                sizes.append(rows)
                rest -= rows
            }
        }
        return sizes
    }

    /// The statements (text and parameters) that insert `records`.
    private static func insertStatements(for records: [UsageRecord]) -> [(sql: String, binds: [SQLValue])] {
        multiRowStatements(records, texts: insertStatementTexts, columns: usageColumnCount, binds: Self.binds)
    }

    /// `rows` in statements of `statementSizes` rows, each with the text for its row count.
    static func multiRowStatements<Row>(
        _ rows: [Row], texts: [Int: String], columns: Int, binds: (Row) -> [SQLValue]
    ) -> [(sql: String, binds: [SQLValue])] {
        var start = 0
        return statementSizes(for: rows.count).map { count in
            var values: [SQLValue] = []
            values.reserveCapacity(count * columns)
            for row in rows[start..<start + count] { values.append(contentsOf: binds(row)) }
            start += count
            return (texts[count]!, values)
        }
    }

    /// A statement's text for each of `statementRowCounts`, built once: `make` is given the
    /// `VALUES` list of that many rows of `columns` placeholders.
    static func multiRowTexts(columns: Int, _ make: (String) -> String) -> [Int: String] {
        let row = "(" + Array(repeating: "?", count: columns).joined(separator: ", ") + ")"
        return Dictionary(
            uniqueKeysWithValues: statementRowCounts.map { ($0, make(Array(repeating: row, count: $0).joined(separator: ", "))) })
    }

    private static let insertStatementTexts = multiRowTexts(columns: usageColumnCount) { values in
        """
        INSERT INTO usage_records (\(usageColumns)) VALUES \(values)
        ON CONFLICT (id) DO NOTHING RETURNING id
        """
    }

    static let rollupColumns = """
        bucket_start, tenant, agent, key_id, route, deployment, provider, upstream_model, tags, currency, requests, errors, \
        input_tokens, output_tokens, cached_input_tokens, cache_write_tokens, reasoning_tokens, estimated, cost_nanos, busy_us
        """

    static let sumColumns = [
        "requests", "errors", "input_tokens", "output_tokens", "cached_input_tokens", "cache_write_tokens",
        "reasoning_tokens", "estimated", "cost_nanos", "busy_us",
    ]

    /// The narrow rollups are written many rows a statement (one round trip each on PostgreSQL).
    static let tagUpsertTexts = multiRowTexts(columns: 16) { values in
        """
        INSERT INTO usage_rollups_tags (bucket_start, tenant, deployment, tag_key, tag_value, currency, \
        \(sumColumns.joined(separator: ", "))) VALUES \(values)
        ON CONFLICT (tag_key, bucket_start, tenant, deployment, tag_value, currency)
        DO UPDATE SET \(sumColumns.map { "\($0) = usage_rollups_tags.\($0) + excluded.\($0)" }.joined(separator: ", "))
        """
    }

    static let coarseUpsertTexts = multiRowTexts(columns: 20) { values in
        """
        INSERT INTO usage_rollups_coarse (\(rollupColumns)) VALUES \(values)
        ON CONFLICT (bucket_start, tenant, agent, key_id, route, deployment, provider, upstream_model, tags, currency)
        DO UPDATE SET \(sumColumns.map { "\($0) = usage_rollups_coarse.\($0) + excluded.\($0)" }.joined(separator: ", "))
        """
    }

    /// A row's key columns as stored, as one text.
    private static func storedKey(_ binds: ArraySlice<SQLValue>) -> String {
        binds.map { value in
            switch value {
            case .integer(let number): String(number)
            case .text(let text): text
            default: ""
            }
        }.joined(separator: "\u{1}")
    }

    /// A tag rollup's row: its one tag as key and value.
    private static func tagBinds(_ rollup: UsageRollup) -> [SQLValue] {
        let (key, value) = rollup.tags.first ?? ("", "")
        return [
            .integer(rollup.bucketStart.value), .text(rollup.tenant ?? ""), .text(rollup.deployment ?? ""), .text(key),
            .text(value), .text(rollup.currency),
        ] + Array(binds(rollup)[10...])
    }

    /// Rollups for a report grouped by the tag `key` (and by deployment, for capacity): per hour,
    /// deployment and currency, one per value of the tag, and the traffic without it as one with no
    /// tags (the coarse rollups' sums less the tagged ones). One statement, so one snapshot: the
    /// remainder is exact even while batches land.
    /// `keepingTenant`: per tenant too (a unit report by tenant counts tasks by a tag).
    public func usageRollups(
        since: UnixMicros, until: UnixMicros, byTag key: String, tenant: String? = nil, keepingTenant: Bool = false
    ) async throws -> [UsageRollup] {
        let hour = CalendarPeriod.hour(containing: since).start.value
        let tenantFilter = tenant == nil ? "" : " AND tenant = ?"
        let sums = Self.sumColumns.map { "SUM(\($0))" }.joined(separator: ", ")
        let group = keepingTenant ? "bucket_start, deployment, tenant" : "bucket_start, deployment"
        let tenantColumn = keepingTenant ? "tenant" : "''"
        let sql = """
            SELECT bucket_start, deployment, tag_value, currency, \(sums), \(tenantColumn) FROM usage_rollups_tags
            WHERE tag_key = ? AND bucket_start >= ? AND bucket_start < ?\(tenantFilter)
            GROUP BY \(group), tag_value, currency
            UNION ALL
            SELECT bucket_start, deployment, NULL, currency, \(sums), \(tenantColumn) FROM usage_rollups_coarse
            WHERE bucket_start >= ? AND bucket_start < ?\(tenantFilter)
            GROUP BY \(group), currency
            """
        var binds: [SQLValue] = [.text(key), .integer(hour), .integer(until.value)]
        if let tenant { binds.append(.text(tenant)) }
        binds += [.integer(hour), .integer(until.value)]
        if let tenant { binds.append(.text(tenant)) }
        let values = binds
        return try await run(.reports) { connection in
            var rollups: [UsageRollup] = []
            var remainders: [UsageRollup.Key: UsageRollup] = [:]
            for row in try connection.query(sql, values) {
                let deployment = row[1].text.flatMap { $0.isEmpty ? nil : $0 }
                var rollup = UsageRollup(
                    bucketStart: UnixMicros(row[0].integer ?? 0), tenant: row[14].text.flatMap { $0.isEmpty ? nil : $0 },
                    agent: nil, keyID: nil, route: nil,
                    deployment: deployment, provider: nil, model: nil, tags: row[2].text.map { [key: $0] } ?? [:],
                    currency: row[3].text ?? "", requests: row[4].integer ?? 0, errors: row[5].integer ?? 0,
                    usage: TokenUsage(
                        inputTokens: Int(row[6].integer ?? 0), outputTokens: Int(row[7].integer ?? 0),
                        cachedInputTokens: Int(row[8].integer ?? 0), cacheWriteInputTokens: Int(row[9].integer ?? 0),
                        reasoningTokens: Int(row[10].integer ?? 0)),
                    estimatedRequests: row[11].integer ?? 0, costNanos: row[12].integer ?? 0, busyMicros: row[13].integer ?? 0)
                if rollup.tags.isEmpty {
                    remainders[rollup.key, default: rollup.emptied].absorb(rollup)
                } else {
                    rollups.append(rollup)
                    rollup.tags = [:]
                    remainders[rollup.key, default: rollup.emptied].subtract(rollup)
                }
            }
            // In one order, so capacity allocated by largest remainder (ties by position) is the
            // same on every read.
            return (rollups + remainders.values.filter { !$0.isEmpty }).sorted(by: UsageRollup.lockOrder)
        }
    }

    /// Rebuilds the coarse and tag rollups of the hours in `[since, until)` from the full ones, in
    /// one transaction (on PostgreSQL the full rollups are locked against writes meanwhile, so no
    /// batch lands half in). Returns the number of hours.
    public func rebuildNarrowRollups(since: UnixMicros, until: UnixMicros) async throws -> Int {
        let range: [SQLValue] = [.integer(since.value), .integer(until.value)]
        let sums = Self.sumColumns.map { "SUM(r.\($0))" }.joined(separator: ", ")
        return try await run(.ledger) { connection in
            try connection.transaction {
                if connection.dialect == .postgres {
                    try connection.query("LOCK TABLE usage_rollups IN SHARE ROW EXCLUSIVE MODE")
                }
                for table in ["usage_rollups_coarse", "usage_rollups_tags"] {
                    try connection.query("DELETE FROM \(table) WHERE bucket_start >= ? AND bucket_start < ?", range)
                }
                try connection.query(
                    """
                    INSERT INTO usage_rollups_coarse
                    SELECT r.bucket_start, r.tenant, r.agent, '', r.route, r.deployment, r.provider, r.upstream_model, '{}',
                        r.currency, \(sums)
                    FROM usage_rollups r WHERE r.bucket_start >= ? AND r.bucket_start < ?
                    GROUP BY r.bucket_start, r.tenant, r.agent, r.route, r.deployment, r.provider, r.upstream_model, r.currency
                    """, range)
                try connection.query(
                    Migrations.sql(
                        """
                        INSERT INTO usage_rollups_tags
                        SELECT r.bucket_start, r.tenant, r.deployment, j.key, j.value, r.currency, \(sums)
                        FROM usage_rollups r, TAG_PAIRS WHERE r.bucket_start >= ? AND r.bucket_start < ?
                        GROUP BY r.bucket_start, r.tenant, r.deployment, j.key, j.value, r.currency
                        """, for: connection.dialect), range)
                let hours = try connection.query(
                    "SELECT COUNT(DISTINCT bucket_start) FROM usage_rollups WHERE bucket_start >= ? AND bucket_start < ?", range)
                return Int(hours.first?[0].integer ?? 0)
            }
        }
    }

    static let rollupUpsert = upsert(into: "usage_rollups")

    private static func upsert(into table: String) -> String {
        let sums = sumColumns
        return """
            INSERT INTO \(table) (\(rollupColumns)) VALUES (\(Array(repeating: "?", count: 20).joined(separator: ", ")))
            ON CONFLICT (bucket_start, tenant, agent, key_id, route, deployment, provider, upstream_model, tags, currency)
            DO UPDATE SET \(sums.map { "\($0) = \(table).\($0) + excluded.\($0)" }.joined(separator: ", "))
            """
    }

    /// Hourly rollups of records started in `[since, until)`; both bounds are taken to the hour
    /// containing them (a bucket is in when its start is in `[hour(since), until)`).
    ///
    /// `keeping` names the attributes the caller groups by: the others are summed away in SQL
    /// (returned as nil / no tags), so a report over months of traffic reads a few thousand rows
    /// instead of every rollup. Nil keeps every attribute.
    public func usageRollups(
        since: UnixMicros? = nil, until: UnixMicros? = nil, keeping: Set<RollupAttribute>? = nil, tenant: String? = nil
    ) async throws -> [UsageRollup] {
        var clauses: [String] = []
        var binds: [SQLValue] = []
        if let tenant {
            clauses.append("tenant = ?")
            binds.append(.text(tenant))
        }
        if let since {
            clauses.append("bucket_start >= ?")
            binds.append(.integer(CalendarPeriod.hour(containing: since).start.value))
        }
        if let until {
            clauses.append("bucket_start < ?")
            binds.append(.integer(until.value))
        }
        let filter = clauses.isEmpty ? "" : " WHERE " + clauses.joined(separator: " AND ")
        // Grouped by neither the key nor the tags: the coarse rollups have the same sums in far fewer rows.
        let table = keeping.map { $0.isDisjoint(with: [.key, .tags]) } == true ? "usage_rollups_coarse" : "usage_rollups"
        let sql: String
        if let keeping {
            let attributes = RollupAttribute.allCases.map { keeping.contains($0) ? $0.column : ($0 == .tags ? "'{}'" : "''") }
            let grouped = ["bucket_start"] + RollupAttribute.allCases.filter(keeping.contains).map(\.column) + ["currency"]
            let sums = [
                "requests", "errors", "input_tokens", "output_tokens", "cached_input_tokens", "cache_write_tokens",
                "reasoning_tokens", "estimated", "cost_nanos", "busy_us",
            ].map { "SUM(\($0))" }
            sql = """
                SELECT bucket_start, \(attributes.joined(separator: ", ")), currency, \(sums.joined(separator: ", "))
                FROM \(table)\(filter) GROUP BY \(grouped.joined(separator: ", "))
                """
        } else {
            sql = "SELECT \(Self.rollupColumns) FROM usage_rollups\(filter)"
        }
        let values = binds
        return try await run(.reports) { connection in
            var tagCache: [String: [String: String]] = [:]
            return try connection.query(sql, values).map { Self.rollup($0, tagCache: &tagCache) }
        }
    }

    public func usageRecord(id: String) async throws -> UsageRecord? {
        try await run(.reports) { connection in
            try connection.query("SELECT \(Self.usageColumns) FROM usage_records WHERE id = ?", [.text(id)]).first
                .map(Self.usageRecord)
        }
    }

    /// Records started in `[since, until)`, oldest first.
    public func usageRecords(since: UnixMicros? = nil, until: UnixMicros? = nil, limit: Int = 10_000) async throws
        -> [UsageRecord]
    {
        let (filter, binds) = Self.timeFilter(since: since, until: until)
        return try await run(.reports) { connection in
            try connection.query(
                "SELECT \(Self.usageColumns) FROM usage_records\(filter) ORDER BY started_at, id LIMIT \(limit)", binds
            ).map(Self.usageRecord)
        }
    }

    public func usageCount() async throws -> Int64 {
        try await run(.reports) { try $0.query("SELECT COUNT(*) FROM usage_records").first?[0].integer ?? 0 }
    }

    /// Totals per group (and per currency: amounts in different currencies are never added).
    public func usageSummary(by dimension: UsageDimension, since: UnixMicros? = nil, until: UnixMicros? = nil) async throws
        -> [UsageSummary]
    {
        let (filter, binds) = Self.timeFilter(since: since, until: until)
        let sql = """
            SELECT \(dimension.column) AS grp, currency, COUNT(*),
                SUM(CASE WHEN status >= 400 THEN 1 ELSE 0 END),
                SUM(input_tokens), SUM(output_tokens), SUM(cached_input_tokens),
                SUM(usage_estimated), SUM(cost_nanos)
            FROM usage_records\(filter)
            GROUP BY \(dimension.column), currency
            ORDER BY SUM(cost_nanos) DESC, grp
            """
        return try await run(.reports) { connection in
            try connection.query(sql, binds).map { row in
                UsageSummary(
                    group: row[0].text, currency: row[1].text ?? "", requests: row[2].integer ?? 0,
                    errors: row[3].integer ?? 0, inputTokens: row[4].integer ?? 0, outputTokens: row[5].integer ?? 0,
                    cachedInputTokens: row[6].integer ?? 0, estimatedRequests: row[7].integer ?? 0,
                    costNanos: row[8].integer ?? 0)
            }
        }
    }

    private static func timeFilter(since: UnixMicros?, until: UnixMicros?) -> (String, [SQLValue]) {
        var clauses: [String] = []
        var binds: [SQLValue] = []
        if let since {
            clauses.append("started_at >= ?")
            binds.append(.integer(since.value))
        }
        if let until {
            clauses.append("started_at < ?")
            binds.append(.integer(until.value))
        }
        return (clauses.isEmpty ? "" : " WHERE " + clauses.joined(separator: " AND "), binds)
    }

    private static func binds(_ record: UsageRecord) -> [SQLValue] {
        [
            .text(record.id), .integer(record.startedAt.value), .integer(record.finishedAt.value),
            .optional(record.tenant), .optional(record.agent), .optional(record.keyID), .text(record.endpoint),
            .optional(record.route), .optional(record.deployment), .optional(record.provider),
            .optional(record.upstreamModel), .integer(record.streamed ? 1 : 0), .integer(Int64(record.usage.inputTokens)),
            .integer(Int64(record.usage.outputTokens)), .integer(Int64(record.usage.cachedInputTokens)),
            .integer(record.usage.isEstimated ? 1 : 0), .integer(record.cost.nanos), .text(record.cost.currency),
            .integer(record.latencyMicros), .optional(record.timeToFirstTokenMicros), .integer(Int64(record.status)),
            .optional(record.errorClass?.rawValue), .text(encodeTags(record.tags)), .text(encodeAttempts(record.attempts)),
            .integer(Int64(record.usage.cacheWriteInputTokens)), .integer(Int64(record.usage.reasoningTokens)),
            .optional(record.replica), .optional(record.traceID), .optional(record.run), .optional(record.runStep),
            .integer(record.runLoop ? 1 : 0),
        ]
    }

    private static func binds(_ rollup: UsageRollup) -> [SQLValue] {
        [
            .integer(rollup.bucketStart.value), .text(rollup.tenant ?? ""), .text(rollup.agent ?? ""),
            .text(rollup.keyID ?? ""), .text(rollup.route ?? ""), .text(rollup.deployment ?? ""),
            .text(rollup.provider ?? ""), .text(rollup.model ?? ""), .text(encodeTags(rollup.tags)), .text(rollup.currency),
            .integer(rollup.requests), .integer(rollup.errors), .integer(Int64(rollup.usage.inputTokens)),
            .integer(Int64(rollup.usage.outputTokens)), .integer(Int64(rollup.usage.cachedInputTokens)),
            .integer(Int64(rollup.usage.cacheWriteInputTokens)), .integer(Int64(rollup.usage.reasoningTokens)),
            .integer(rollup.estimatedRequests), .integer(rollup.costNanos), .integer(rollup.busyMicros),
        ]
    }

    /// Tag sets repeat across rollups, so each distinct text is decoded once.
    private static func rollup(_ row: SQLRow, tagCache: inout [String: [String: String]]) -> UsageRollup {
        func attribute(_ index: Int) -> String? { row[index].text.flatMap { $0.isEmpty ? nil : $0 } }
        let tagText = row[8].text ?? "{}"
        let tags =
            tagCache[tagText]
            ?? {
                let decoded = decodeTags(tagText)
                tagCache[tagText] = decoded
                return decoded
            }()
        return UsageRollup(
            bucketStart: UnixMicros(row[0].integer ?? 0), tenant: attribute(1), agent: attribute(2), keyID: attribute(3),
            route: attribute(4), deployment: attribute(5), provider: attribute(6), model: attribute(7),
            tags: tags, currency: row[9].text ?? "", requests: row[10].integer ?? 0,
            errors: row[11].integer ?? 0,
            usage: TokenUsage(
                inputTokens: Int(row[12].integer ?? 0), outputTokens: Int(row[13].integer ?? 0),
                cachedInputTokens: Int(row[14].integer ?? 0), cacheWriteInputTokens: Int(row[15].integer ?? 0),
                reasoningTokens: Int(row[16].integer ?? 0)),
            estimatedRequests: row[17].integer ?? 0, costNanos: row[18].integer ?? 0, busyMicros: row[19].integer ?? 0)
    }

    private static func usageRecord(_ row: SQLRow) -> UsageRecord {
        UsageRecord(
            id: row[0].text ?? "", startedAt: UnixMicros(row[1].integer ?? 0), finishedAt: UnixMicros(row[2].integer ?? 0),
            tenant: row[3].text, agent: row[4].text, keyID: row[5].text, endpoint: row[6].text ?? "",
            route: row[7].text, deployment: row[8].text, provider: row[9].text, upstreamModel: row[10].text,
            streamed: row[11].integer == 1,
            usage: TokenUsage(
                inputTokens: Int(row[12].integer ?? 0), outputTokens: Int(row[13].integer ?? 0),
                cachedInputTokens: Int(row[14].integer ?? 0), cacheWriteInputTokens: Int(row[24].integer ?? 0),
                reasoningTokens: Int(row[25].integer ?? 0), isEstimated: row[15].integer == 1),
            cost: Money(nanos: row[16].integer ?? 0, currency: row[17].text ?? ""),
            latencyMicros: row[18].integer ?? 0, timeToFirstTokenMicros: row[19].integer,
            status: Int(row[20].integer ?? 0), errorClass: row[21].text.flatMap(ErrorClass.init(rawValue:)),
            tags: decodeTags(row[22].text ?? "{}"), attempts: decodeAttempts(row[23].text ?? "[]"), replica: row[26].text,
            traceID: row[27].text, run: row[28].text, runStep: row[29].text, runLoop: row[30].integer == 1)
    }

    static func encodeTags(_ tags: [String: String]) -> String {
        // Most records carry none; the text is also a rollup key, so the encoder's exact output is kept.
        if tags.isEmpty { return "{}" }
        let encoder = JSONEncoder()
        encoder.outputFormatting = .sortedKeys
        return (try? encoder.encode(tags)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
    }

    /// Written by hand (one per record, on the ledger writer's thread): the same members
    /// `JSONDecoder` reads back, absent optionals left out.
    static func encodeAttempts(_ attempts: [Attempt]) -> String {
        // Bytes into one sized array, made a string once: appending to a String checked and
        // copied each piece.
        var json: [UInt8] = []
        json.reserveCapacity(2 + 120 * attempts.count)
        json.append(UInt8(ascii: "["))
        for (index, attempt) in attempts.enumerated() {
            if index > 0 { json.append(UInt8(ascii: ",")) }
            json.append(contentsOf: #"{"deployment":"#.utf8)
            json.append(contentsOf: AuditValue.jsonString(attempt.deployment).utf8)
            if let status = attempt.status {
                json.append(contentsOf: #","status":"#.utf8)
                json.append(contentsOf: String(status).utf8)
            }
            if let errorClass = attempt.errorClass {
                json.append(contentsOf: #","errorClass":"#.utf8)
                json.append(contentsOf: AuditValue.jsonString(errorClass.rawValue).utf8)
            }
            json.append(contentsOf: #","latencyMicros":"#.utf8)
            json.append(contentsOf: String(attempt.latencyMicros).utf8)
            json.append(contentsOf: (attempt.hedged ? #","hedged":true}"# : #","hedged":false}"#).utf8)
        }
        json.append(UInt8(ascii: "]"))
        return String(decoding: json, as: UTF8.self)
    }

    static func decodeAttempts(_ text: String) -> [Attempt] {
        (try? JSONDecoder().decode([Attempt].self, from: Data(text.utf8))) ?? []
    }

    static func decodeTags(_ text: String) -> [String: String] {
        (try? JSONDecoder().decode([String: String].self, from: Data(text.utf8))) ?? [:]
    }
}

/// The attributes of a usage rollup, in the order of its columns.
public enum RollupAttribute: String, CaseIterable, Sendable, Hashable {
    case tenant, agent, key, route, deployment, provider, model, tags

    var column: String {
        switch self {
        case .key: "key_id"
        case .model: "upstream_model"
        default: rawValue
        }
    }
}

/// What a usage report can be grouped by.
public enum UsageDimension: String, CaseIterable, Sendable {
    case tenant, agent, key, route, model, provider, deployment, status

    /// A fixed column name: never built from user input.
    var column: String {
        switch self {
        case .tenant: "tenant"
        case .agent: "agent"
        case .key: "key_id"
        case .route: "route"
        case .model: "upstream_model"
        case .provider: "provider"
        case .deployment: "deployment"
        case .status: "status"
        }
    }
}

public struct UsageSummary: Hashable, Sendable, Codable {
    /// Nil for records without this attribute (e.g. rejected before a key was recognised).
    public var group: String?
    public var currency: String
    public var requests: Int64
    public var errors: Int64
    public var inputTokens: Int64
    public var outputTokens: Int64
    public var cachedInputTokens: Int64
    public var estimatedRequests: Int64
    public var costNanos: Int64

    public init(
        group: String?, currency: String, requests: Int64, errors: Int64, inputTokens: Int64, outputTokens: Int64,
        cachedInputTokens: Int64, estimatedRequests: Int64, costNanos: Int64
    ) {
        self.group = group
        self.currency = currency
        self.requests = requests
        self.errors = errors
        self.inputTokens = inputTokens
        self.outputTokens = outputTokens
        self.cachedInputTokens = cachedInputTokens
        self.estimatedRequests = estimatedRequests
        self.costNanos = costNanos
    }
}
