import SwitchyardCore
import WireFormats

/// The cost explorer: the cost report grouped by any dimension or tag over hour, day or month
/// buckets, as a stacked chart and a table of exact decimals. Both are the admin API's cost
/// report, the very table `switchyard report cost` prints for the same query. A bar (or a row's
/// bucket) drills down into its bucket at the next finer grain; unit economics compare the period
/// with the one before; the CSV is the same report.
struct CostExplorerPage {
    let viewer: ConsoleViewer
    let query: [String: String]

    static let dimensions = ["tenant", "agent", "key", "route", "deployment", "provider", "model", "customer", "feature"]

    var by: String {
        if let tag = query["tag"], !tag.isEmpty { return tag }
        return query["by"].flatMap { $0.isEmpty ? nil : $0 } ?? "tenant"
    }
    var bucket: String { ["hour", "day", "month"].contains(query["bucket"] ?? "") ? query["bucket"]! : "day" }

    /// The report for this page's query: the tenant's for a bound credential, else the gateway's.
    func report(kind: String = "cost", format: String = "json") async -> ConsoleAdminClient.Reply {
        var parameters: [(String, String)] = [("by", by), ("format", format)]
        if kind == "cost" { parameters.append(("bucket", bucket)) }
        for name in ["since", "until"] { if let value = query[name], !value.isEmpty { parameters.append((name, value)) } }
        let path =
            viewer.boundTenant.map { "/admin/v1/tenants/\(ConsoleAdminClient.encode($0))/reports/\(kind)" }
            ?? "/admin/v1/reports/\(kind)"
        return await viewer.admin.get(path, parameters)
    }

    func render() async -> ConsolePages.Rendered {
        let reply = await report()
        guard reply.ok else { return .init(body: form + ConsoleLayout.notice(reply.message), status: .init(code: reply.status)) }
        let rows = reply.array
        let groupColumn = rows.first.flatMap { Self.firstKey(of: $0) } ?? by
        var body = form
        body += chart(rows, groupColumn: groupColumn)
        body += table(rows, groupColumn: groupColumn)
        body += """
            <p><a href="/console/costs.csv\(HTML.escape(HTML.query(links)))" download>Download CSV</a> · \
            <a href="/console/costs/unit\(HTML.escape(HTML.query(links)))" id="unit-link">Unit economics against the period before</a></p>
            """
        return .init(body: body)
    }

    /// Unit economics of the same grouping and period, against the period before. Its own page:
    /// tasks are counted by a tag, so it reads the full hourly rollups (README, Console).
    func renderUnit() async -> ConsolePages.Rendered {
        let reply = await report(kind: "unit")
        guard reply.ok else { return .init(body: ConsoleLayout.notice(reply.message), status: .init(code: reply.status)) }
        let back = "<p><a href=\"/console/costs\(HTML.escape(HTML.query(links)))\">Back to the cost report</a></p>"
        return .init(body: back + unitTable(reply.array), heading: "Unit economics")
    }

    var links: [(String, String?)] { [("by", by), ("bucket", bucket), ("since", query["since"]), ("until", query["until"])] }

    var form: String {
        let options = (Self.dimensions.contains(by) ? Self.dimensions : Self.dimensions + [by]).map {
            "<option\($0 == by ? " selected" : "")>\(HTML.escape($0))</option>"
        }.joined()
        let buckets = ["hour", "day", "month"].map { "<option\($0 == bucket ? " selected" : "")>\($0)</option>" }.joined()
        return """
            <form method="get" action="/console/costs" class="filters"><fieldset><legend>Report</legend>\
            <label>Group by <select name="by">\(options)</select></label>\
            <label>or tag <input name="tag" list="none" placeholder="a tag key" size="10"></label>\
            <label>Bucket <select name="bucket">\(buckets)</select></label>\
            <label>Since <input name="since" value="\(HTML.escape(query["since"] ?? ""))" placeholder="2026-12-01" size="22"></label>\
            <label>Until <input name="until" value="\(HTML.escape(query["until"] ?? ""))" placeholder="now" size="22"></label>\
            <button type="submit">Show</button></fieldset></form>
            """
    }

    /// Stacked cost per bucket: the seven dearest groups, the rest as "other".
    func chart(_ rows: [JSONValue], groupColumn: String) -> String {
        let buckets = Array(Set(rows.compactMap { $0[bucket]?.stringValue })).sorted()
        guard !buckets.isEmpty else { return "" }
        var totals: [String: Int64] = [:]
        var cells: [String: [String: Int64]] = [:]
        for row in rows {
            let group = row[groupColumn]?.stringValue ?? "(none)"
            let nanos = Self.nanos(row["cost"])
            totals[group, default: 0] &+= nanos
            cells[group, default: [:]][row[bucket]?.stringValue ?? "", default: 0] &+= nanos
        }
        let ranked = totals.sorted { ($0.value, $1.key) > ($1.value, $0.key) }.map(\.key)
        let shown = Array(ranked.prefix(7))
        var series = shown.map { group in SVGChart.Series(name: group, values: buckets.map { cells[group]?[$0] ?? 0 }) }
        if ranked.count > 7 {
            let rest = ranked.dropFirst(7)
            series.append(
                .init(
                    name: "other", values: buckets.map { bucket in rest.reduce(Int64(0)) { $0 &+ (cells[$1]?[bucket] ?? 0) } }))
        }
        let labels = buckets.map { Self.label($0, bucket: bucket) }
        let currency = rows.first?["currency"]?.stringValue ?? ""
        return SVGChart.stackedBars(
            title: "Cost by \(groupColumn) per \(bucket)", buckets: labels, series: series,
            links: buckets.map(drillLink), format: { Money.format(nanos: $0) + " " + currency })
    }

    /// Rows per page of the table (the chart and the CSV have them all).
    static let pageSize = 500

    func table(_ rows: [JSONValue], groupColumn: String) -> String {
        let columns = [
            groupColumn, bucket, "requests", "errors", "input_tokens", "output_tokens", "usage_cost", "capacity_cost", "cost",
            "currency",
        ]
        let pages = max(1, (rows.count + Self.pageSize - 1) / Self.pageSize)
        let page = min(max(Int(query["page"] ?? "") ?? 1, 1), pages)
        let shown = rows[min(rows.count, (page - 1) * Self.pageSize)..<min(rows.count, page * Self.pageSize)]
        var navigation = ""
        if pages > 1 {
            let link = { (number: Int) in
                "<a href=\"/console/costs\(HTML.escape(HTML.query(links + [("page", String(number))])))\">\(number)</a>"
            }
            navigation =
                "<nav aria-label=\"Table pages\"><p>Rows \((page - 1) * Self.pageSize + 1)–\((page - 1) * Self.pageSize + shown.count) of \(rows.count). Page: "
                + (1...pages).map { $0 == page ? "<strong>\($0)</strong>" : link($0) }.joined(separator: " ") + "</p></nav>"
        }
        let cells = shown.map { row in
            columns.map { column -> HTML.Cell in
                let text = row[column]?.stringValue
                return column == bucket ? HTML.Cell(text, link: text.flatMap(drillLink)) : HTML.Cell(text)
            }
        }
        return HTML.table(caption: "Cost by \(groupColumn) and \(bucket)", header: columns, rows: cells, id: "cost-table")
            + navigation
    }

    func unitTable(_ rows: [JSONValue]) -> String {
        let columns = [
            rows.first.flatMap { Self.firstKey(of: $0) } ?? by, "requests", "cost", "cost_per_request",
            "previous_cost_per_request", "change_per_request_pct", "cost_per_task", "previous_cost_per_task",
            "change_per_task_pct", "currency",
        ]
        return HTML.table(
            caption: "Unit economics against the period before", header: columns,
            rows: rows.map { row in columns.map { HTML.Cell(row[$0]?.stringValue) } }, id: "unit-table")
    }

    /// The bucket at the next finer grain (an hour stays an hour).
    func drillLink(_ start: String) -> String? {
        guard let time = UnixMicros(dateOrTimestamp: start) else { return nil }
        let (period, finer) =
            switch bucket {
            case "month": (CalendarPeriod.month(containing: time), "day")
            case "day": (CalendarPeriod.day(containing: time), "hour")
            default: (CalendarPeriod.hour(containing: time), "hour")
            }
        return "/console/costs"
            + HTML.query([
                ("by", by), ("bucket", finer), ("since", period.start.rfc3339Seconds), ("until", period.end.rfc3339Seconds),
            ])
    }

    static func label(_ start: String, bucket: String) -> String {
        switch bucket {
        case "month": String(start.prefix(7))
        case "day": String(start.prefix(10))
        default: String(start.dropFirst(5).prefix(11)).replacingOccurrences(of: "T", with: " ")
        }
    }

    /// A report's exact decimal in nano-units (0 when absent).
    static func nanos(_ value: JSONValue?) -> Int64 {
        value?.stringValue.flatMap(nanos(decimal:)) ?? 0
    }

    /// "-12.345" as -12,345,000,000 nano-units, in integers; nil for anything else (or more than
    /// nine decimals, which no report prints).
    static func nanos(decimal text: String) -> Int64? {
        let negative = text.hasPrefix("-")
        let parts = text.dropFirst(negative ? 1 : 0).split(separator: ".", omittingEmptySubsequences: false)
        guard (1...2).contains(parts.count), let units = Int64(parts[0]), parts[0].allSatisfy(\.isASCII) else { return nil }
        let fraction = parts.count == 2 ? parts[1] : ""
        guard fraction.count <= 9, fraction.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
        let fractionNanos = Int64(fraction.padding(toLength: 9, withPad: "0", startingAt: 0)) ?? 0
        let (scaled, overflow) = units.multipliedReportingOverflow(by: Money.nanosPerUnit)
        guard !overflow, units >= 0 else { return nil }
        let magnitude = scaled &+ fractionNanos
        return negative ? -magnitude : magnitude
    }

    static func firstKey(of row: JSONValue) -> String? {
        guard case .object(let object) = row else { return nil }
        return object.keys.first
    }
}
