import Storage
import SwitchyardCore
import TestSupport
import Testing

/// Incidents as the watcher stores them, on both engines: rewritten in place as they evolve, listed
/// newest first by status, and audited in the same transaction.
@Suite struct IncidentStoreTests {
    static func incident(_ id: String, status: String, opened: Int64, summary: String = "s") -> StoredIncident {
        StoredIncident(
            id: id, status: status, openedAt: UnixMicros(opened), updatedAt: UnixMicros(opened + 5),
            resolvedAt: status == "resolved" ? UnixMicros(opened + 9) : nil, causeKey: "deployment=us", summary: summary,
            detail: #"{"id":"\#(id)"}"#)
    }

    @Test(arguments: TestEngine.available)
    func incidentsAreRewrittenListedAndAudited(_ engine: TestEngine) async throws {
        let store = try await SQLStore.open(try engine.freshURL())
        try await store.saveIncidents(
            [Self.incident("inc_a", status: "open", opened: 100), Self.incident("inc_b", status: "open", opened: 200)],
            audit: [AuditEntry(principal: "switchyard", action: "incident.opened", target: "inc_a", tenant: nil)])
        try await store.saveIncidents(
            [Self.incident("inc_a", status: "resolved", opened: 100, summary: "later")],
            audit: [AuditEntry(principal: "switchyard", action: "incident.resolved", target: "inc_a", tenant: nil)])
        #expect(try await store.incidents().map(\.id) == ["inc_b", "inc_a"])
        #expect(try await store.incidents(status: "open").map(\.id) == ["inc_b"])
        let resolved = try #require(try await store.incident(id: "inc_a"))
        #expect(resolved.status == "resolved" && resolved.summary == "later" && resolved.resolvedAt == UnixMicros(109))
        #expect(try await store.incident(id: "inc_none") == nil)
        #expect(try await store.incidents(limit: 1).count == 1)
        let actions = try await store.auditEntries(limit: 10).map(\.action)
        #expect(actions.contains("incident.opened") && actions.contains("incident.resolved"))
        await store.close()
    }
}
