import Routing
import SwitchyardCore
import WireFormats

/// Providers and deployments: each deployment's health and breaker state on this replica, its
/// requests and error rate per hour over the last day as sparklines, the canary scorecard (with
/// its recall curve), and provider concentration (HHI) with its warnings.
struct ProvidersPage {
    let viewer: ConsoleViewer
    let monitor: DeploymentMonitor
    let deployments: [String]

    func render() async -> ConsolePages.Rendered {
        let now = UnixMicros.now()
        let since = CalendarPeriod.hour(containing: UnixMicros(now.value - 23 * 3_600_000_000)).start
        let hourly = await viewer.admin.get(
            "/admin/v1/reports/cost", [("by", "deployment"), ("bucket", "hour"), ("since", since.rfc3339Seconds)])
        var perHour: [String: [String: (requests: Int64, errors: Int64)]] = [:]
        for row in hourly.array {
            guard let deployment = row["deployment"]?.stringValue, let hour = row["hour"]?.stringValue else { continue }
            var cell = perHour[deployment, default: [:]][hour] ?? (0, 0)
            cell.requests += Int64(row["requests"]?.stringValue ?? "") ?? 0
            cell.errors += Int64(row["errors"]?.stringValue ?? "") ?? 0
            perHour[deployment, default: [:]][hour] = cell
        }
        let hours = (0..<24).map { UnixMicros(since.value + Int64($0) * 3_600_000_000).rfc3339Seconds }
        let rows = deployments.map { name -> [HTML.Cell] in
            let snapshot = monitor.snapshot(name)
            let series = hours.map { perHour[name]?[$0] ?? (0, 0) }
            let state = snapshot?.unavailability.map { "\($0)" } ?? "in rotation"
            return [
                HTML.Cell(name), HTML.Cell(state),
                HTML.Cell(
                    snapshot?.p95Latency.map {
                        String(Int($0.components.seconds * 1000 + $0.components.attoseconds / 1_000_000_000_000_000))
                    }),
                HTML.Cell(snapshot.map { String($0.inFlight) }),
                HTML.Cell(markup: SVGChart.sparkline(series.map { Double($0.requests) }, label: "requests per hour of \(name)")),
                HTML.Cell(
                    markup: SVGChart.sparkline(
                        series.map { $0.requests == 0 ? 0 : Double($0.errors) / Double($0.requests) },
                        label: "error rate per hour of \(name)")),
            ]
        }
        var body = HTML.table(
            caption: "Deployments (health on this replica; traffic over the last 24 hours)",
            header: ["deployment", "state", "p95 ms", "in flight", "requests/h", "error rate/h"], rows: rows, id: "deployments")
        body += await scorecard()
        body += await concentration()
        return .init(body: body)
    }

    func scorecard() async -> String {
        let reply = await viewer.admin.get("/admin/v1/probes/scorecard")
        var html = HTML.table(
            caption: "Canary scorecard",
            header: [
                "provider", "model", "quality", "p95 ms 24h", "errors 24h", "cost/1M tok 24h",
                "availability 24h", "availability 7d", "drift",
            ],
            rows: reply.array.map { row in
                [
                    HTML.Cell(row["provider"]?.stringValue), HTML.Cell(row["model"]?.stringValue),
                    HTML.Cell(OverviewPage.number(row["quality"])), HTML.Cell(OverviewPage.number(row["p95_latency_ms_24h"])),
                    HTML.Cell(OverviewPage.number(row["error_rate_24h"])), HTML.Cell(row["cost_per_mtok_24h"]?.stringValue),
                    HTML.Cell(OverviewPage.number(row["availability_24h"])),
                    HTML.Cell(OverviewPage.number(row["availability_7d"])),
                    HTML.Cell((row["drift"]?.arrayValue ?? []).compactMap(\.stringValue).joined(separator: "; ")),
                ]
            }, id: "scorecard")
        for row in reply.array {
            let points = row["recall_by_length"]?.arrayValue ?? []
            guard points.count > 1 else { continue }
            let labels = points.map { OverviewPage.number($0["tokens"]) ?? OverviewPage.number($0["length"]) ?? "" }
            let values = points.map { point in
                OverviewPage.number(point["recall"]).flatMap(Double.init).map { Int64(($0 * 1000).rounded()) }
            }
            html += SVGChart.lines(
                title: "Recall by prompt length: \(row["provider"]?.stringValue ?? "") \(row["model"]?.stringValue ?? "")",
                labels: labels, series: [("recall (‰)", values)], format: { "\($0) ‰" })
        }
        return html
    }

    func concentration() async -> String {
        let reply = await viewer.admin.get("/admin/v1/reports/concentration")
        let columns = ["level", "name", "cost", "cost_share", "requests", "request_share", "currency"]
        var html = HTML.table(
            caption: "Concentration (HHI rows: 0 to 10,000)", header: columns,
            rows: reply.array.map { row in columns.map { HTML.Cell(row[$0]?.stringValue) } }, id: "concentration")
        let high = reply.array.filter {
            $0["level"]?.stringValue == "hhi" && (Double($0["cost_share"]?.stringValue ?? "") ?? 0) > 2_500
        }
        for row in high {
            html += ConsoleLayout.notice(
                "Spend is highly concentrated by \(row["name"]?.stringValue ?? ""): HHI \(row["cost_share"]?.stringValue ?? "") > 2,500."
            )
        }
        return html
    }
}
