/// The frame of every console page: navigation for what the viewer may see, the sign-out form,
/// and the page's content. Styles and scripts come from the binary (`ConsoleAssets`), nothing
/// from elsewhere, and no inline script or style (the Content-Security-Policy forbids both).
enum ConsoleLayout {
    enum Section: String, CaseIterable {
        case overview, costs, budgets, providers, incidents, runs, keys, audit, config

        var title: String {
            switch self {
            case .overview: "Overview"
            case .costs: "Cost explorer"
            case .budgets: "Budgets and commitments"
            case .providers: "Providers and deployments"
            case .incidents: "Incidents"
            case .runs: "Agents and runs"
            case .keys: "Keys"
            case .audit: "Audit"
            case .config: "Config drift"
            }
        }

        var path: String { self == .overview ? "/console" : "/console/\(rawValue)" }

        /// Pages of the whole gateway: not for a credential bound to one tenant.
        var gatewayWide: Bool { self == .providers || self == .incidents || self == .config }
    }

    static func page(_ section: Section, viewer: ConsoleViewer, heading: String? = nil, body: String) -> String {
        let navigation = Section.allCases.filter { viewer.seesGatewayWide || !$0.gatewayWide }.map { item in
            let current = item == section ? " aria-current=\"page\"" : ""
            return "<li><a href=\"\(item.path)\"\(current)>\(HTML.escape(item.title))</a></li>"
        }.joined()
        let who = "\(viewer.principal.role.rawValue)" + (viewer.boundTenant.map { " of \($0)" } ?? "")
        return document(
            title: heading ?? section.title,
            body: """
                <header><a class="brand" href="/console">Switchyard</a>\
                <nav aria-label="Console"><ul>\(navigation)</ul></nav>\
                <form method="post" action="/console/logout" class="signout">\(viewer.csrfField)\
                <span>\(HTML.escape(who))</span> <button type="submit">Sign out</button></form></header>\
                <main id="main"><h1>\(HTML.escape(heading ?? section.title))</h1>\(body)</main>
                """)
    }

    static func document(title: String, body: String) -> String {
        """
        <!doctype html>
        <html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">\
        <title>\(HTML.escape(title)) · Switchyard</title><link rel="stylesheet" href="/console/assets/console.css">\
        <script src="/console/assets/console.js" defer></script></head>\
        <body><a class="skip" href="#main">Skip to content</a>\(body)</body></html>
        """
    }

    /// A message in place of a page's content (an error the admin API answered, say).
    static func notice(_ text: String) -> String { "<p class=\"notice\" role=\"alert\">\(HTML.escape(text))</p>" }
}
