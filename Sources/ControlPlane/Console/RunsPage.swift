import WireFormats

/// Agent runs, most recently active first: cost so far, duration, loops, and a kill-switch
/// button per run that asks for a reason (engaged through the tenant's admin endpoint, which
/// audits it).
struct RunsPage {
    let viewer: ConsoleViewer
    let query: [String: String]

    func render() async -> ConsolePages.Rendered {
        guard let tenant = await viewer.tenant(asked: query["tenant"]) else {
            return .init(body: ConsoleLayout.notice("No tenant yet."))
        }
        let reply = await viewer.admin.get("/admin/v1/tenants/\(ConsoleAdminClient.encode(tenant))/runs", [("limit", "100")])
        guard reply.ok else { return .init(body: ConsoleLayout.notice(reply.message), status: .init(code: reply.status)) }
        var header = ["run", "agent", "started", "last active", "seconds", "requests", "cost", "currency", "loops", "stopped"]
        if viewer.mayChange { header.append("kill switch") }
        let rows = reply.array.map { run -> [HTML.Cell] in
            let id = run["run"]?.stringValue ?? ""
            let stopped = run["stopped"] == .bool(true)
            var cells = [
                HTML.Cell(id), HTML.Cell(run["agent"]?.stringValue), HTML.Cell(run["started_at"]?.stringValue),
                HTML.Cell(run["last_activity"]?.stringValue), HTML.Cell(OverviewPage.number(run["duration_seconds"])),
                HTML.Cell(OverviewPage.number(run["requests"])), HTML.Cell(run["cost"]?.stringValue),
                HTML.Cell(run["currency"]?.stringValue),
                HTML.Cell((OverviewPage.number(run["loops"]) ?? "0") + (run["looping"] == .bool(true) ? " (looping)" : "")),
                HTML.Cell(stopped ? "stopped: " + (run["stopped_by"]?["reason"]?.stringValue ?? "") : ""),
            ]
            if viewer.mayChange {
                cells.append(
                    stopped
                        ? HTML.Cell("")
                        : HTML.Cell(
                            markup: """
                                <form method="post" class="inline kill" action="/console/kill-switches">\(viewer.csrfField)\
                                <input type="hidden" name="tenant" value="\(HTML.escape(tenant))">\
                                <input type="hidden" name="scope" value="\(HTML.escape("run:\(tenant)/\(id)"))">\
                                <label>Reason <input name="reason" required size="18"></label> \
                                <button type="submit">Stop run</button></form>
                                """))
            }
            return cells
        }
        let picker = await TenantPicker.form(viewer, action: "/console/runs", current: tenant)
        return .init(body: picker + HTML.table(caption: "Runs of \(tenant)", header: header, rows: rows, id: "runs"))
    }
}
