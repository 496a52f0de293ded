import Storage
import SwitchyardCore

extension SQLStore {
    /// `count` audit entries, one append each, alternating between globex (odd sequences) and
    /// acme (even): the chain the audit tests tamper with.
    public func appendSampleAuditEntries(count: Int = 6) async throws {
        for index in 1...count {
            try await appendAudit([
                AuditEntry(
                    principal: "admin", action: "key.create", target: "key:k\(index)", tenant: index % 2 == 0 ? "acme" : "globex",
                    after: #"{"tenant":"acme"}"#, detail: "entry \(index)")
            ])
        }
    }
}
