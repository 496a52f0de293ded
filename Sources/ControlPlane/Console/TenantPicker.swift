/// The tenant chooser of a tenant page, for a credential that sees more than one tenant.
enum TenantPicker {
    static func form(_ viewer: ConsoleViewer, action: String, current: String) async -> String {
        guard viewer.boundTenant == nil else { return "" }
        let options = await viewer.tenants().map {
            "<option\($0 == current ? " selected" : "")>\(HTML.escape($0))</option>"
        }.joined()
        return """
            <form method="get" action="\(action)"><label>Tenant <select name="tenant">\(options)</select></label> \
            <button type="submit">Show</button></form>
            """
    }
}
