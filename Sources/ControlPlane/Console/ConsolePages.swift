import Hummingbird
import SwitchyardCore
import WireFormats

/// Routes each console section and action to the page type that renders it.
struct ConsolePages: Sendable {
    /// A page's content and status, framed by `ConsoleLayout`.
    struct Rendered: Sendable {
        var body: String
        var status: HTTPResponse.Status = .ok
        var heading: String?
    }

    let console: Console

    func render(_ section: ConsoleLayout.Section, _ viewer: ConsoleViewer, _ request: Request) async -> Rendered {
        let query = Self.query(request)
        switch section {
        case .overview: return await OverviewPage(viewer: viewer, month: query["month"]).render()
        case .costs: return await CostExplorerPage(viewer: viewer, query: query).render()
        case .budgets: return await BudgetsPage(viewer: viewer).render()
        case .providers:
            return await ProvidersPage(
                viewer: viewer, monitor: console.api.monitor, deployments: console.api.configuration.deployments.map(\.name)
            ).render()
        case .incidents: return await IncidentsPage(viewer: viewer).list()
        case .runs: return await RunsPage(viewer: viewer, query: query).render()
        case .keys: return await KeysPage(viewer: viewer, query: query).render()
        case .audit:
            return await AuditPage(
                viewer: viewer, query: query, store: console.api.store,
                keyring: try? console.api.configuration.audit.keyring(environment: console.api.environment),
                gate: console.auditVerification
            ).render()
        case .config: return await ConfigDriftPage(api: console.api).render()
        }
    }

    func costsCSV(_ viewer: ConsoleViewer, _ request: Request) async -> Response {
        let reply = await CostExplorerPage(viewer: viewer, query: Self.query(request)).report(format: "csv")
        guard reply.ok else {
            return Console.html(
                ConsoleLayout.document(title: "Refused", body: ConsoleLayout.notice(reply.message)),
                status: .init(code: reply.status))
        }
        return Response(
            status: .ok,
            headers: [
                .contentType: "text/csv; charset=utf-8", .contentDisposition: "attachment; filename=\"switchyard-cost.csv\"",
                .cacheControl: "no-store", .xContentTypeOptions: "nosniff",
            ],
            body: .init(byteBuffer: .init(string: reply.text)))
    }

    func incident(_ viewer: ConsoleViewer, id: String) async -> Rendered {
        await IncidentsPage(viewer: viewer).detail(id: id)
    }

    func undoIncident(_ viewer: ConsoleViewer, id: String, form: [String: String]) async -> Response {
        let reply = await viewer.admin.call(.post, "/admin/v1/incidents/\(ConsoleAdminClient.encode(id))/undo")
        return reply.ok ? Console.redirect("/console/incidents/\(ConsoleAdminClient.encode(id))") : refusal(viewer, reply)
    }

    func createKey(_ viewer: ConsoleViewer, form: [String: String]) async -> Response {
        let tenant = form["tenant"] ?? ""
        var body: [(String, String?)] = []
        if let project = form["project"], !project.isEmpty { body.append(("project", project)) }
        if let agent = form["agent"], !agent.isEmpty { body.append(("agent", agent)) }
        let reply = await viewer.admin.call(
            .post, "/admin/v1/tenants/\(ConsoleAdminClient.encode(tenant))/keys", body: AuditValue.object(body))
        guard reply.ok, let secret = reply.json?["key"]?.stringValue else { return refusal(viewer, reply) }
        let rendered = await KeysPage(viewer: viewer, query: ["tenant": tenant]).render(
            created: (reply.json?["id"]?.stringValue ?? "", secret))
        return Console.html(ConsoleLayout.page(.keys, viewer: viewer, body: rendered.body), status: .created)
    }

    func revokeKey(_ viewer: ConsoleViewer, key: String, form: [String: String]) async -> Response {
        let tenant = form["tenant"] ?? ""
        let reply = await viewer.admin.call(
            .delete, "/admin/v1/tenants/\(ConsoleAdminClient.encode(tenant))/keys/\(ConsoleAdminClient.encode(key))")
        return reply.ok ? Console.redirect("/console/keys" + HTML.query([("tenant", tenant)])) : refusal(viewer, reply)
    }

    /// Engages a kill switch through the tenant's admin endpoint (which audits it), with the
    /// reason the form asked for.
    func engageKillSwitch(_ viewer: ConsoleViewer, form: [String: String]) async -> Response {
        let tenant = form["tenant"] ?? ""
        let reason = (form["reason"] ?? "").trimmingCharacters(in: .whitespaces)
        guard !reason.isEmpty else {
            return refusal(viewer, .init(status: 400, text: "", json: nil), message: "A kill switch needs a reason.")
        }
        let reply = await viewer.admin.call(
            .post, "/admin/v1/tenants/\(ConsoleAdminClient.encode(tenant))/kill-switches",
            body: AuditValue.object([("scope", form["scope"] ?? ""), ("reason", reason)]))
        return reply.ok ? Console.redirect("/console/runs" + HTML.query([("tenant", tenant)])) : refusal(viewer, reply)
    }

    /// What the admin API refused, shown with its status.
    func refusal(_ viewer: ConsoleViewer, _ reply: ConsoleAdminClient.Reply, message: String? = nil) -> Response {
        Console.html(
            ConsoleLayout.page(
                .overview, viewer: viewer, heading: "Refused", body: ConsoleLayout.notice(message ?? reply.message)),
            status: .init(code: reply.status == 0 ? 500 : reply.status))
    }

    static func query(_ request: Request) -> [String: String] {
        var query: [String: String] = [:]
        for (name, value) in request.uri.queryParameters { query[String(name)] = String(value) }
        return query
    }
}
