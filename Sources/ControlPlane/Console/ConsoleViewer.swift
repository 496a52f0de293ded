import SwitchyardCore

/// Who is looking at a console page: the signed-in principal, its session's CSRF token, and
/// the in-process admin client that answers for that principal only.
struct ConsoleViewer: Sendable {
    let principal: AdminPrincipal
    let session: ConsoleSession
    let admin: ConsoleAdminClient

    /// Bound to one tenant: sees that tenant's pages only, never the gateway-wide ones.
    var boundTenant: String? { principal.tenant }
    var seesGatewayWide: Bool { principal.tenant == nil }
    /// A viewer is shown no control that changes anything (and the server refuses it anyway).
    var mayChange: Bool { principal.role != .viewer }

    /// The hidden field every form that changes something carries.
    var csrfField: String { "<input type=\"hidden\" name=\"csrf\" value=\"\(HTML.escape(session.csrf))\">" }

    /// The tenants this principal may see, from the admin API.
    func tenants() async -> [String] {
        await admin.get("/admin/v1/tenants").array.compactMap { $0["name"]?.stringValue }
    }

    /// The tenant a tenant page shows: the one asked for (a bound principal asking for another
    /// gets the admin API's "No such tenant"), else the bound one, else the first.
    func tenant(asked: String?) async -> String? {
        if let asked, !asked.isEmpty { return asked }
        if let boundTenant { return boundTenant }
        return await tenants().first
    }
}
