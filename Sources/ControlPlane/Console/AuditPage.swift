import Storage
import SwitchyardCore
import Synchronization
import WireFormats

/// The audit trail: a tenant's entries (oldest first, paged in its own sequence, filtered by
/// action within the page), and for a credential that sees the whole gateway the chain's head
/// and, for an admin, its verification on request (one at a time).
struct AuditPage {
    /// One verification at a time on this replica: it reads the whole chain.
    final class VerificationGate: Sendable {
        private let running = Mutex(false)

        func enter() -> Bool {
            running.withLock { busy in
                if busy { return false }
                busy = true
                return true
            }
        }

        func leave() { running.withLock { $0 = false } }
    }

    let viewer: ConsoleViewer
    let query: [String: String]
    let store: SQLStore
    /// The audit MAC keys (`audit.key_env`), when configured.
    let keyring: AuditKeyring?
    let gate: VerificationGate

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
        if query["verify"] == "1", viewer.principal.role == .admin {
            guard gate.enter() else {
                return html + "<dt>Hash chain</dt><dd>A verification is already running; try again shortly.</dd></dl>"
            }
            defer { gate.leave() }
            if let verifier = try? await store.verifyAudit(keyring: keyring) {
                let status = verifier.firstBreak.map { "broken: \(HTML.escape($0.description))" } ?? "intact"
                let macs = keyring == nil ? "hash chain only: no audit.key_env, MACs not checked" : "hash chain and MACs"
                html += """
                    <dt>Verification</dt><dd id="audit-verification" class="\(verifier.firstBreak == nil ? "ok" : "warn")">\
                    \(status) (\(verifier.checked) entries checked; \(macs))</dd>
                    """
            }
        } else if viewer.principal.role == .admin {
            html += "<dt>Verification</dt><dd><a href=\"/console/audit?verify=1\" id=\"verify\">Verify the whole chain</a></dd>"
        }
        return html + "</dl>"
    }
}
