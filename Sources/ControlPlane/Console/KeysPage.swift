import WireFormats

/// A tenant's API keys: list, issue (the secret is shown once, on the page that issued it) and
/// revoke, all through the tenant's admin endpoints (which audit them).
struct KeysPage {
    let viewer: ConsoleViewer
    let query: [String: String]

    func render(created: (id: String, secret: String)? = nil) async -> ConsolePages.Rendered {
        guard let tenant = await viewer.tenant(asked: query["tenant"]) else {
            return .init(body: ConsoleLayout.notice("No tenant yet."))
        }
        let path = "/admin/v1/tenants/\(ConsoleAdminClient.encode(tenant))/keys"
        let reply = await viewer.admin.get(path)
        guard reply.ok else { return .init(body: ConsoleLayout.notice(reply.message), status: .init(code: reply.status)) }
        var body = await TenantPicker.form(viewer, action: "/console/keys", current: tenant)
        if let created {
            body += """
                <section aria-label="New key" id="new-key"><p>Key <code>\(HTML.escape(created.id))</code> is issued. \
                Copy it now: it is shown this once and stored only as a hash.</p>\
                <p class="secret" id="new-key-secret">\(HTML.escape(created.secret))</p></section>
                """
        }
        let header = ["key", "project", "agent", "state", "created", "expires", "revoked"] + (viewer.mayChange ? [""] : [])
        let rows = reply.array.map { key -> [HTML.Cell] in
            let id = HTML.escape(key["id"]?.stringValue ?? "")
            var cells = ["id", "project", "agent", "state", "created_at", "expires_at", "revoked_at"].map {
                HTML.Cell(key[$0]?.stringValue)
            }
            guard viewer.mayChange else { return cells }
            cells.append(
                key["revoked_at"]?.stringValue != nil
                    ? HTML.Cell("")
                    : HTML.Cell(
                        markup: """
                            <form method="post" class="inline" action="/console/keys/\(id)/revoke">\(viewer.csrfField)\
                            <input type="hidden" name="tenant" value="\(HTML.escape(tenant))">\
                            <button type="submit" aria-label="Revoke \(id)">Revoke</button></form>
                            """))
            return cells
        }
        let table = HTML.table(caption: "Keys of \(tenant)", header: header, rows: rows, id: "keys")
        if viewer.mayChange {
            body += """
                <form method="post" action="/console/keys"><fieldset><legend>Issue a key</legend>\(viewer.csrfField)\
                <input type="hidden" name="tenant" value="\(HTML.escape(tenant))">\
                <label>Project <input name="project" size="12"></label><label>Agent <input name="agent" size="16"></label>\
                <button type="submit" id="create-key">Issue key</button></fieldset></form>
                """
        }
        return .init(body: body + table, status: created == nil ? .ok : .created)
    }
}
