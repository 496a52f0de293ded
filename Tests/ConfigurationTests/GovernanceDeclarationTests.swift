import Foundation
import SwitchyardCore
import Testing

@testable import SwitchyardConfig

@Suite struct GovernanceDeclarationTests {
    static let configuration = try! ConfigurationLoader.parse(GovernanceConfigurationTests.yaml, file: "governance.yaml")
    static let routes = Set(configuration.routes.map(\.name))
    static let providers = Set(configuration.providers.map(\.name))

    static func read(_ records: [GovernanceRecord]) throws -> GovernanceDeclaration {
        try GovernanceDeclaration.reading(records, routes: routes, providers: providers, source: "test")
    }

    @Test func everyObjectReadsBackFromItsCanonicalForm() throws {
        let declared = GovernanceDeclaration(Self.configuration)
        #expect(!declared.policies.isEmpty && !declared.limits.isEmpty && declared.budgets.count == 2)
        let records = declared.records
        let read = try Self.read(records.shuffled())
        #expect(read.records == records)
        #expect(read.policies == declared.policies)
        #expect(read.limits == declared.limits)
        #expect(read.budgets == declared.budgets)
        #expect(read.tenants.map(\.name) == declared.tenants.map(\.name))
        #expect(read.tenants.first { $0.name == "acme" }?.weight == 3)
        // Set order never shows: the canonical form sorts lists.
        let policy = try #require(records.first { $0.kind == .policy && $0.name == "acme-guard" })
        #expect(policy.declaration.contains(#""guardrails":{"emails":"redact","secrets":"block"}"#))
        #expect(policy.declaration.contains(#""max_cost_per_request":"0.05","currency":"USD""#))
    }

    @Test func readingChecksScopesAndNamesLikeTheFile() throws {
        let orphan = GovernanceRecord(
            kind: .policy, name: "p", declaration: #"{"name":"p","scope":"tenant:initech","denied_tools":["x"]}"#)
        #expect {
            try Self.read([orphan])
        } throws: { ($0 as? ConfigurationError)?.path == "policies[p].scope" }
        let misnamed = GovernanceRecord(kind: .tenant, name: "acme", declaration: #"{"name":"globex"}"#)
        #expect(throws: ConfigurationError.self) { try Self.read([misnamed]) }
        let unknownField = GovernanceRecord(kind: .tenant, name: "acme", declaration: #"{"name":"acme","wieght":2}"#)
        #expect {
            try Self.read([unknownField])
        } throws: { "\($0)".contains("unknown key 'wieght'") }
    }

    @Test func aPlanListsAdditionsChangesByFieldAndRemovalsInApplyOrder() throws {
        let file = GovernanceDeclaration(Self.configuration)
        var live = file
        live.tenants.removeAll { $0.name == "globex" }
        live.policies[0].maxOutputTokens = 500
        live.policies[0].deniedTools = []
        live.limits = []
        live.budgets.append(Budget(name: "old", scope: .tenant("acme"), period: .day, limit: Money(nanos: 1, currency: "USD")))
        let plan = GovernancePlan(live: live.records, desired: file.records)
        #expect(plan.changes.map(\.target) == ["tenant:globex", "policy:acme-guard", "limit:project:acme/web", "budget:old"])
        #expect(plan.changes.map(\.action) == [.add, .change, .add, .remove])
        let change = plan.changes[1]
        #expect(change.fieldChanges.map(\.field) == ["max_output_tokens", "denied_tools"])
        #expect(change.fieldChanges[0].before == "500" && change.fieldChanges[0].after == "1000")
        #expect(change.fieldChanges[1].before == nil && change.fieldChanges[1].after == #"["shell"]"#)
        #expect(plan.rendered.contains("    max_output_tokens: 500 -> 1000\n"))
        #expect(plan.rendered.hasSuffix("Plan: 2 to add, 1 to change, 1 to remove.\n"))
        let entry = change.auditEntry(by: "cli")
        #expect(entry.action == "policy.update" && entry.tenant == "acme" && entry.before != nil && entry.after != nil)
        #expect(GovernancePlan(live: file.records, desired: file.records).isEmpty)
    }
}
