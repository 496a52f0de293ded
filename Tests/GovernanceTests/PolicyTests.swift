import Governance
import SwitchyardCore
import Testing

@Suite struct PolicyTests {
    let principal = Principal(tenant: "acme", project: "web", agent: "triage", keyID: "key000000001")

    func facts(
        route: String = "chat", tools: [String] = [], input: Int = 100, maxOutput: Int? = 200, tags: [String: String] = [:]
    ) -> RequestFacts {
        RequestFacts(route: route, toolNames: tools, estimatedInputTokens: input, maxOutputTokens: maxOutput, tags: tags)
    }

    @Test func allowListsNarrowAcrossScopesAndDenialsWinEverywhere() {
        var tenant = Policy(name: "tenant-wide", scope: .tenant("acme"))
        tenant.allowedRoutes = ["chat", "cheap", "vision"]
        tenant.deniedTools = ["shell"]
        var agent = Policy(name: "agent-narrow", scope: .agent(tenant: "acme", agent: "triage"))
        agent.allowedRoutes = ["chat", "premium"]  // cannot widen to premium: the tenant does not allow it
        agent.allowedTools = ["search", "shell"]  // shell stays denied by the tenant
        let book = PolicyBook([agent, tenant])
        let effective = book.effective(for: principal)

        #expect(effective.allowedRoutes?.value == ["chat"])
        #expect(effective.refusal(for: facts(route: "chat")) == nil)
        let premium = effective.refusal(for: facts(route: "premium"))
        #expect(premium?.rule == "allowed_routes")
        #expect(premium?.policy == "agent-narrow")
        let cheap = effective.refusal(for: facts(route: "cheap"))
        #expect(cheap?.rule == "allowed_routes")
        #expect(effective.refusal(for: facts(tools: ["search"])) == nil)
        let shell = effective.refusal(for: facts(tools: ["search", "shell"]))
        #expect(shell?.rule == "denied_tools")
        #expect(shell?.policy == "tenant-wide")
        #expect(shell?.message.contains("tool 'shell' is denied") == true)
        #expect(effective.refusal(for: facts(tools: ["browse"]))?.rule == "allowed_tools")
    }

    /// The book remembers each principal's combination: asking again, or for another principal
    /// in between, gives each its own policies.
    @Test func combinedPoliciesAreRememberedPerPrincipal() {
        var tenant = Policy(name: "tenant", scope: .tenant("acme"))
        tenant.deniedTools = ["shell"]
        var agent = Policy(name: "agent", scope: .agent(tenant: "acme", agent: "triage"))
        agent.maxOutputTokens = 100
        let book = PolicyBook([tenant, agent])
        let other = Principal(tenant: "acme", agent: "writer", keyID: "key000000002")
        let stranger = Principal(tenant: "globex", agent: "triage", keyID: "key000000003")
        for _ in 0..<3 {
            #expect(book.effective(for: principal).refusal(for: facts(maxOutput: 200))?.rule == "max_output_tokens")
            #expect(book.effective(for: other).refusal(for: facts(maxOutput: 200)) == nil)
            #expect(book.effective(for: other).refusal(for: facts(tools: ["shell"]))?.rule == "denied_tools")
            #expect(book.effective(for: stranger) == .unrestricted)
        }
    }

    @Test func theMostSpecificScopeSetsNumericMaxima() {
        var tenant = Policy(name: "tenant", scope: .tenant("acme"))
        tenant.maxOutputTokens = 500
        tenant.maxInputTokens = 1000
        var key = Policy(name: "key", scope: .key("key000000001"))
        key.maxOutputTokens = 2000
        var otherKey = Policy(name: "other", scope: .key("someone-else"))
        otherKey.maxOutputTokens = 1
        let effective = PolicyBook([tenant, key, otherKey]).effective(for: principal)
        #expect(effective.maxOutputTokens?.value == 2000)
        #expect(effective.refusal(for: facts(maxOutput: 1500)) == nil)
        #expect(effective.refusal(for: facts(maxOutput: 2001))?.rule == "max_output_tokens")
        #expect(effective.refusal(for: facts(maxOutput: nil))?.rule == "max_output_tokens")
        let input = effective.refusal(for: facts(input: 1001))
        #expect(input?.rule == "max_input_tokens")
        #expect(input?.policy == "tenant")
    }

    @Test func requiredTagsAndCostAreJudged() {
        var project = Policy(name: "attribution", scope: .project(tenant: "acme", project: "web"))
        project.requiredTags = ["customer"]
        project.maxCostPerRequest = Money(nanos: 50_000_000, currency: "USD")
        let effective = PolicyBook([project]).effective(for: principal)
        let refusal = effective.refusal(for: facts())
        #expect(refusal?.rule == "required_tags")
        #expect(refusal?.message.contains("tag 'customer' is required") == true)
        #expect(effective.refusal(for: facts(tags: ["customer": "c1"])) == nil)
        #expect(effective.costRefusal(maximum: Money(nanos: 50_000_000, currency: "USD")) == nil)
        #expect(effective.costRefusal(maximum: Money(nanos: 50_000_001, currency: "USD"))?.rule == "max_cost_per_request")
        // A project's policy does not reach a key of another project.
        let other = Principal(tenant: "acme", project: "mobile", agent: nil, keyID: "k2")
        #expect(PolicyBook([project]).effective(for: other).refusal(for: facts()) == nil)
    }

    @Test func residencyCombinesRegionsProvidersAndDenials() {
        var tenant = Policy(name: "eu-only", scope: .tenant("acme"))
        tenant.allowedRegions = ["eu", "us"]
        var agent = Policy(name: "no-beta", scope: .agent(tenant: "acme", agent: "triage"))
        agent.allowedRegions = ["eu"]
        agent.deniedProviders = ["beta"]
        let residency = PolicyBook([tenant, agent]).effective(for: principal).residency
        #expect(residency?.residency.regions == ["eu"])
        #expect(residency?.residency.excludeProviders == ["beta"])
        #expect(PolicyBook([]).effective(for: principal).residency == nil)
    }

    @Test func scopesRoundTripTheirTextForm() {
        for scope: GovernanceScope in [
            .tenant("acme"), .project(tenant: "acme", project: "web"), .agent(tenant: "acme", agent: "bot"), .key("abc"),
        ] {
            #expect(GovernanceScope(scope.description) == scope)
        }
        #expect(GovernanceScope("project:acme") == nil)
        #expect(GovernanceScope("team:x") == nil)
        #expect(principal.scopes.map(\.specificity) == [3, 2, 1, 0])
    }
}
