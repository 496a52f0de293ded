import WireFormats

/// Incidents: the list, and one incident's probable cause, where it concentrates, its signals,
/// scope, cost and mitigations, with the button that undoes them (through the admin API, which
/// audits it).
struct IncidentsPage {
    let viewer: ConsoleViewer

    func list() async -> ConsolePages.Rendered {
        let reply = await viewer.admin.get("/admin/v1/incidents", [("limit", "100")])
        guard reply.ok else { return .init(body: ConsoleLayout.notice(reply.message), status: .init(code: reply.status)) }
        let rows = reply.array.map { incident in
            let id = incident["id"]?.stringValue ?? ""
            return [
                HTML.Cell(id, link: "/console/incidents/\(ConsoleAdminClient.encode(id))"),
                HTML.Cell(incident["status"]?.stringValue), HTML.Cell(incident["summary"]?.stringValue),
                HTML.Cell(incident["opened_at"]?.stringValue), HTML.Cell(incident["resolved_at"]?.stringValue),
            ]
        }
        return .init(
            body: HTML.table(
                caption: "The 100 most recent incidents", header: ["incident", "status", "summary", "opened", "resolved"],
                rows: rows, id: "incidents"))
    }

    func detail(id: String) async -> ConsolePages.Rendered {
        let reply = await viewer.admin.get("/admin/v1/incidents/\(ConsoleAdminClient.encode(id))")
        guard reply.ok, let incident = reply.json else {
            return .init(body: ConsoleLayout.notice(reply.message), status: .init(code: reply.status), heading: "Incident")
        }
        let strings = { (name: String) in (incident[name]?.arrayValue ?? []).compactMap(\.stringValue).joined(separator: ", ") }
        var body = """
            <dl><dt>Status</dt><dd id="incident-status">\(HTML.escape(incident["status"]?.stringValue ?? ""))</dd>\
            <dt>Probable cause</dt><dd id="incident-cause">\(HTML.escape(incident["cause"]?.stringValue ?? ""))</dd>\
            <dt>Opened</dt><dd>\(HTML.escape(incident["opened_at"]?.stringValue ?? ""))</dd>\
            <dt>Resolved</dt><dd>\(HTML.escape(incident["resolved_at"]?.stringValue ?? "—"))</dd>\
            <dt>Tenants</dt><dd>\(HTML.escape(strings("tenants")))</dd><dt>Agents</dt><dd>\(HTML.escape(strings("agents")))</dd>\
            <dt>Routes</dt><dd>\(HTML.escape(strings("routes")))</dd>\
            <dt>Cost of the requests in scope</dt><dd>\(HTML.escape(OverviewPage.number(incident["cost"]) ?? ""))</dd></dl>
            """
        let signals = (incident["signals"]?.arrayValue ?? []).map { signal in
            ["series", "metric", "expected", "observed", "worst", "since"].map { HTML.Cell(OverviewPage.number(signal[$0])) }
        }
        body += HTML.table(
            caption: "Signals", header: ["series", "metric", "expected", "observed", "worst", "since"], rows: signals)
        let mitigations = incident["mitigations"]?.arrayValue ?? []
        body += HTML.table(
            caption: "Mitigations", header: ["action", "target", "at", "undone at", "refused"],
            rows: mitigations.map { mitigation in
                ["action", "target", "at", "undone_at", "refused"].map { HTML.Cell(mitigation[$0]?.stringValue) }
            }, id: "mitigations")
        let undoable = mitigations.contains { $0["undone_at"]?.stringValue == nil && $0["refused"]?.stringValue == nil }
        if viewer.mayChange, incident["status"]?.stringValue == "open", undoable {
            body += """
                <form method="post" action="/console/incidents/\(HTML.escape(ConsoleAdminClient.encode(id)))/undo">\
                \(viewer.csrfField)<button type="submit" id="undo">Undo the mitigation</button></form>
                """
        }
        return .init(body: body, heading: incident["summary"]?.stringValue ?? "Incident")
    }
}
