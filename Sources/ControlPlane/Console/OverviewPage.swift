import SwitchyardCore
import WireFormats

/// The overview: spend today and this month against budgets and commitments, the month's
/// cumulative spend with a straight-line forecast to its end, requests and error rate, p95
/// latency per provider, open incidents, and the five dearest tenants, agents and customers.
struct OverviewPage {
    let viewer: ConsoleViewer
    /// `?month=2026-11`: that month as it ended, in place of this one so far.
    var month: String? = nil

    func report(by: String, bucket: String? = nil, since: UnixMicros, kind: String = "cost") async -> ConsoleAdminClient.Reply {
        var parameters = [("by", by), ("since", since.rfc3339Seconds), ("until", asOf.rfc3339Seconds)]
        if let bucket { parameters.append(("bucket", bucket)) }
        let path =
            viewer.boundTenant.map { "/admin/v1/tenants/\(ConsoleAdminClient.encode($0))/reports/\(kind)" }
            ?? "/admin/v1/reports/\(kind)"
        return await viewer.admin.get(path, parameters)
    }

    /// Now, or the last instant of the month asked for (when it has ended).
    var asOf: UnixMicros {
        let now = UnixMicros.now()
        guard let month, let start = UnixMicros(dateOrTimestamp: month + "-01") else { return now }
        return min(now, CalendarPeriod.month(containing: start).end)
    }

    func render() async -> ConsolePages.Rendered {
        let now = asOf
        let month = CalendarPeriod.month(containing: UnixMicros(now.value - 1))
        let today = CalendarPeriod.day(containing: UnixMicros(now.value - 1))
        let daily = await report(by: "provider", bucket: "day", since: month.start)
        guard daily.ok else { return .init(body: ConsoleLayout.notice(daily.message), status: .init(code: daily.status)) }
        var perDay: [String: Int64] = [:]
        var requests: Int64 = 0
        var errors: Int64 = 0
        var todayNanos: Int64 = 0
        let currency = daily.array.first?["currency"]?.stringValue ?? "USD"
        for row in daily.array where row["currency"]?.stringValue == currency {
            let day = row["day"]?.stringValue ?? ""
            let nanos = CostExplorerPage.nanos(row["cost"])
            perDay[day, default: 0] &+= nanos
            requests &+= Int64(row["requests"]?.stringValue ?? "") ?? 0
            errors &+= Int64(row["errors"]?.stringValue ?? "") ?? 0
            if day == today.start.rfc3339Seconds { todayNanos &+= nanos }
        }
        let monthNanos = perDay.values.reduce(Int64(0), &+)
        let elapsed = Double(max(now.value - month.start.value, 1))
        let forecastNanos = Int64((Double(monthNanos) * Double(month.duration) / elapsed).rounded())
        let errorRate = requests == 0 ? "0" : String(format: "%.2f %%", Double(errors) * 100 / Double(requests))
        var body = """
            <section aria-label="Spend" class="cards">\
            \(card("Spend today", Money.format(nanos: todayNanos) + " " + currency, id: "spend-today"))\
            \(card("Month to date", Money.format(nanos: monthNanos) + " " + currency, id: "spend-month"))\
            \(card("Month forecast", Money.format(nanos: forecastNanos) + " " + currency, id: "spend-forecast"))\
            \(card("Requests this month", String(requests), id: "requests"))\
            \(card("Error rate", errorRate, id: "error-rate"))</section>
            """
        body += forecastChart(perDay, month: month, now: now, forecast: forecastNanos, currency: currency)
        body += await budgets()
        if viewer.seesGatewayWide {
            body += await commitments()
            body += await latencyByProvider()
            body += await openIncidents()
        }
        body += "<section aria-label=\"Top spenders\" class=\"cards\">"
        for dimension in (viewer.boundTenant == nil ? ["tenant", "agent", "customer"] : ["agent", "customer"]) {
            let reply = await report(by: dimension, since: month.start)
            let top = reply.array.sorted { CostExplorerPage.nanos($0["cost"]) > CostExplorerPage.nanos($1["cost"]) }.prefix(5)
            body +=
                "<div class=\"card\">"
                + HTML.table(
                    caption: "Top 5 \(dimension)s this month", header: [dimension, "cost", "currency"],
                    rows: top.map { row in
                        let name = row[dimension]?.stringValue ?? "(none)"
                        return [HTML.Cell(name), HTML.Cell(row["cost"]?.stringValue), HTML.Cell(row["currency"]?.stringValue)]
                    }) + "</div>"
        }
        return .init(body: body + "</section>")
    }

    func card(_ label: String, _ figure: String, id: String) -> String {
        "<div class=\"card\" id=\"\(id)\"><div>\(HTML.escape(label))</div><div class=\"figure\">\(HTML.escape(figure))</div></div>"
    }

    /// Cumulative spend per day of the month, then a straight line to the forecast at its end.
    func forecastChart(_ perDay: [String: Int64], month: CalendarPeriod, now: UnixMicros, forecast: Int64, currency: String)
        -> String
    {
        let dayMicros: Int64 = 86_400_000_000
        let days = Int(month.duration / dayMicros)
        let todayIndex = Int((now.value - 1 - month.start.value) / dayMicros)
        var cumulative: [Int64?] = []
        var projected: [Int64?] = []
        var running: Int64 = 0
        for index in 0..<days {
            let start = UnixMicros(month.start.value + Int64(index) * dayMicros).rfc3339Seconds
            running &+= perDay[start] ?? 0
            cumulative.append(index <= todayIndex ? running : nil)
        }
        let atToday = cumulative[min(todayIndex, days - 1)] ?? 0
        for index in 0..<days {
            guard index >= todayIndex else {
                projected.append(nil)
                continue
            }
            let share = Double(index - todayIndex + 1) / Double(max(days - todayIndex, 1))
            projected.append(atToday + Int64((Double(forecast - atToday) * share).rounded()))
        }
        return SVGChart.lines(
            title: "Spend this month and its forecast", labels: (1...days).map(String.init),
            series: [("spend to date", cumulative), ("spend (forecast)", projected)],
            format: { Money.format(nanos: $0) + " " + currency })
    }

    func budgets() async -> String {
        var rows: [[HTML.Cell]] = []
        let tenants = await viewer.tenants()
        for tenant in tenants.prefix(50) {
            for budget in await viewer.admin.get("/admin/v1/tenants/\(ConsoleAdminClient.encode(tenant))/budgets").array {
                rows.append(
                    [
                        HTML.Cell(budget["name"]?.stringValue), HTML.Cell(budget["scope"]?.stringValue),
                        HTML.Cell(budget["spent"]?.stringValue), HTML.Cell(budget["reserved"]?.stringValue),
                        HTML.Cell(budget["limit"]?.stringValue), HTML.Cell(budget["currency"]?.stringValue),
                    ])
            }
        }
        let more = tenants.count > 50 ? ConsoleLayout.notice("The first 50 tenants' budgets: all are under Budgets.") : ""
        return HTML.table(
            caption: "Budgets this period", header: ["budget", "scope", "spent", "reserved", "limit", "currency"], rows: rows,
            id: "overview-budgets") + more
    }

    func commitments() async -> String {
        let reply = await viewer.admin.get("/admin/v1/reports/commitments")
        let columns = ["commitment", "provider", "spend_to_date", "forecast_spend", "committed_spend", "period_end", "currency"]
        return HTML.table(
            caption: "Commitments", header: columns,
            rows: reply.array.map { row in columns.map { HTML.Cell(row[$0]?.stringValue) } })
    }

    func latencyByProvider() async -> String {
        let reply = await viewer.admin.get("/admin/v1/probes/scorecard", [("format", "json")])
        let rows = (reply.json?["rows"]?.arrayValue ?? reply.array).map { row in
            [
                HTML.Cell(row["provider"]?.stringValue), HTML.Cell(row["model"]?.stringValue),
                HTML.Cell(Self.number(row["p95_latency_ms_24h"])), HTML.Cell(Self.number(row["error_rate_24h"])),
            ]
        }
        return HTML.table(
            caption: "p95 latency per provider and model (24 h)", header: ["provider", "model", "p95 ms", "error rate"],
            rows: rows)
    }

    func openIncidents() async -> String {
        let reply = await viewer.admin.get("/admin/v1/incidents", [("status", "open"), ("limit", "10")])
        return HTML.table(
            caption: "Open incidents", header: ["incident", "summary", "opened"],
            rows: reply.array.map { incident in
                let id = incident["id"]?.stringValue ?? ""
                return [
                    HTML.Cell(id, link: "/console/incidents/\(ConsoleAdminClient.encode(id))"),
                    HTML.Cell(incident["summary"]?.stringValue), HTML.Cell(incident["opened_at"]?.stringValue),
                ]
            }, id: "open-incidents")
    }

    static func number(_ value: JSONValue?) -> String? {
        switch value {
        case .number(let text): text
        case .string(let text): text
        default: nil
        }
    }
}
