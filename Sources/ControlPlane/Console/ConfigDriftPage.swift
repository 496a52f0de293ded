import SwitchyardConfig

/// Config drift: `switchyard config plan` against the file this gateway was started with, the
/// live governance state on one side and the file's declarations on the other.
struct ConfigDriftPage {
    let api: AdminAPI

    func render() async -> ConsolePages.Rendered {
        guard let live = try? await api.store.governanceState() else {
            return .init(body: ConsoleLayout.notice("The store could not answer; try again."), status: .serviceUnavailable)
        }
        let plan = GovernancePlan(live: live.records, desired: GovernanceDeclaration(api.configuration).records)
        let summary =
            plan.isEmpty
            ? "<p class=\"ok\" id=\"drift\">Live state matches the file.</p>"
            : "<p class=\"warn\" id=\"drift\">\(plan.changes.count) difference(s) between live state and the file.</p>"
        return .init(body: summary + "<pre>\(HTML.escape(plan.rendered))</pre>")
    }
}
