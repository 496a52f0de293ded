import Storage
import SwitchyardCore
import WireFormats

/// The audit trail: a tenant's entries (paged in its own sequence, filtered by action), and for
/// a credential that sees the whole gateway the chain's head and, on request, its verification.
struct AuditPage {
    let viewer: ConsoleViewer
    let query: [String: String]
    let store: SQLStore

    static let pageSize = 100

    func render() async -> ConsolePages.Rendered {
        var body = ""
        if viewer.seesGatewayWide { body += await chain() }
        guard let tenant = await viewer.tenant(asked: query["tenant"]) else {
            return .init(body: body + ConsoleLayout.notice("No tenant yet."))
        }
        let after = Int64(query["after"] ?? "") ?? 0
        let reply = await viewer.admin.get(
            "/admin/v1/tenants/\(ConsoleAdminClient.encode(tenant))/audit",
            [("after", String(after)), ("limit", String(Self.pageSize))])
        guard reply.ok else { return .init(body: body + ConsoleLayout.notice(reply.message), status: .init(code: reply.status)) }
        let action = query["action"] ?? ""
        let entries = reply.array.filter { action.isEmpty || ($0["action"]?.stringValue ?? "").contains(action) }
        body += await TenantPicker.form(viewer, action: "/console/audit", current: tenant)
        body += """
            <form method="get" action="/console/audit"><input type="hidden" name="tenant" value="\(HTML.escape(tenant))">\
            <label>Action contains <input name="action" value="\(HTML.escape(action))" size="20"></label> \
            <button type="submit">Filter</button></form>
            """
        let columns = ["sequence", "time", "principal", "action", "target", "detail"]
        body += HTML.table(
            caption: "Audit entries of \(tenant)", header: columns,
            rows: entries.map { entry in columns.map { HTML.Cell(OverviewPage.number(entry[$0])) } }, id: "audit")
        if reply.array.count == Self.pageSize, let last = reply.array.last.flatMap({ OverviewPage.number($0["sequence"]) }) {
            body +=
                "<p><a href=\"/console/audit\(HTML.escape(HTML.query([("tenant", tenant), ("action", action), ("after", last)])))\">Older entries</a></p>"
        }
        return .init(body: body)
    }

    /// The head of the hash chain, and its verification when asked for: that walks the whole
    /// chain, so it runs on request only, never on a page load.
    func chain() async -> String {
        let head: AuditEntry?
        do {
            head = try await store.auditHead()
        } catch {
            return ConsoleLayout.notice("The audit chain could not be read.")
        }
        var html = """
            <dl><dt>Chain head</dt><dd id="audit-head">\(head.map { "#\($0.sequence) \(HTML.escape($0.hash))" } ?? "empty")</dd>
            """
        if query["verify"] == "1" {
            if let verifier = try? await store.verifyAudit() {
                let status = verifier.firstBreak.map { "broken: \(HTML.escape($0.description))" } ?? "intact"
                html +=
                    "<dt>Hash chain</dt><dd id=\"audit-verification\" class=\"\(verifier.firstBreak == nil ? "ok" : "warn")\">\(status) (\(verifier.checked) entries checked)</dd>"
            }
        } else {
            html += "<dt>Hash chain</dt><dd><a href=\"/console/audit?verify=1\" id=\"verify\">Verify the whole chain</a></dd>"
        }
        return html + "</dl>"
    }
}
