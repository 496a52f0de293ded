import SwitchyardCore
import WireFormats

/// Budgets and commitments: a burn-down bar per budget (spent and reserved against the limit),
/// and, gateway-wide, each contract's utilization, forecast, shortfall or overage, and the end
/// of its period (after which unused commitment is lost).
struct BudgetsPage {
    /// Each tenant's budgets are one admin call: a page reads at most this many tenants.
    static let tenantLimit = 200

    let viewer: ConsoleViewer

    func render() async -> ConsolePages.Rendered {
        var rows: [[HTML.Cell]] = []
        let tenants = await viewer.tenants()
        for tenant in tenants.prefix(Self.tenantLimit) {
            for budget in await viewer.admin.get("/admin/v1/tenants/\(ConsoleAdminClient.encode(tenant))/budgets").array {
                let spent = CostExplorerPage.nanos(budget["spent"])
                let reserved = CostExplorerPage.nanos(budget["reserved"])
                let limit = CostExplorerPage.nanos(budget["limit"])
                rows.append(
                    [
                        HTML.Cell(budget["name"]?.stringValue), HTML.Cell(budget["scope"]?.stringValue),
                        HTML.Cell(budget["period_end"]?.stringValue), HTML.Cell(budget["spent"]?.stringValue),
                        HTML.Cell(budget["reserved"]?.stringValue), HTML.Cell(budget["limit"]?.stringValue),
                        HTML.Cell(budget["currency"]?.stringValue),
                        HTML.Cell(budget["alert_at"]?.stringValue),
                        HTML.Cell(
                            markup: Self.burnDown(
                                spent: spent, reserved: reserved, limit: limit,
                                alerts: (budget["alert_at"]?.stringValue ?? "").split(separator: ",").compactMap { Double($0) })),
                    ])
            }
        }
        var body = HTML.table(
            caption: "Budgets this period",
            header: ["budget", "scope", "period end", "spent", "reserved", "limit", "currency", "alerts at", "burn-down"],
            rows: rows,
            id: "budgets")
        if tenants.count > Self.tenantLimit {
            body += ConsoleLayout.notice(
                "The first \(Self.tenantLimit) of \(tenants.count) tenants' budgets; the admin API has every tenant's.")
        }
        if viewer.seesGatewayWide {
            let reply = await viewer.admin.get("/admin/v1/reports/commitments")
            let columns = [
                "commitment", "provider", "period_end", "spend_to_date", "forecast_spend", "committed_spend", "shortfall",
                "overage", "forecast_utilization", "currency",
            ]
            body += HTML.table(
                caption: "Commitments (unused commitment is lost at the period end)", header: columns,
                rows: reply.array.map { row in columns.map { HTML.Cell(row[$0]?.stringValue) } }, id: "commitments")
        }
        return .init(body: body)
    }

    /// Spent (solid) and reserved (light) against the limit, marked at its alert thresholds and
    /// at 100 %.
    static func burnDown(spent: Int64, reserved: Int64, limit: Int64, alerts: [Double]) -> String {
        let scale = Double(max(limit, spent &+ reserved, 1))
        let width = 200.0
        let spentWidth = Double(spent) / scale * width
        let reservedWidth = Double(reserved) / scale * width
        let marks = (alerts + [1.0]).map { share -> String in
            let x = SVGChart.rounded(Double(limit) * share / scale * width)
            return "<line x1=\"\(x)\" y1=\"0\" x2=\"\(x)\" y2=\"14\" stroke=\"#000\"/>"
        }.joined()
        let percent = limit > 0 ? Int((Double(spent) / Double(limit) * 100).rounded()) : 0
        return """
            <svg role="img" aria-label="\(percent) % of the limit spent" viewBox="0 0 \(Int(width)) 14" width="\(Int(width))" \
            height="14" xmlns="http://www.w3.org/2000/svg"><rect x="0" y="0" width="\(Int(width))" height="14" fill="#eef1f4"/>\
            <rect x="0" y="0" width="\(SVGChart.rounded(spentWidth))" height="14" fill="#0072B2"/>\
            <rect x="\(SVGChart.rounded(spentWidth))" y="0" width="\(SVGChart.rounded(reservedWidth))" height="14" fill="#56B4E9"/>\
            \(marks)</svg> \(percent) %
            """
    }
}
