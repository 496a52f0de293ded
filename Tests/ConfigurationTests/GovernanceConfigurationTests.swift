import Foundation
import SwitchyardCore
import Testing

@testable import SwitchyardConfig

@Suite struct GovernanceConfigurationTests {
    static let yaml =
        ConfigurationLoaderTests.issueExample.replacingOccurrences(
            of: "  - name: acme\n", with: "  - name: acme\n    projects: [web, mobile]\n    weight: 3\n"
        ).replacingOccurrences(
            of: "    context_window: 8192\n",
            with: "    context_window: 8192\n    max_concurrency: 4\n    queue: { timeout_seconds: 2.5, max_waiting: 50 }\n")
            + """

            policies:
              - name: acme-guard
                scope: tenant:acme
                allowed_routes: [chat]
                denied_tools: [shell]
                max_output_tokens: 1000
                max_cost_per_request: "0.05"
                allowed_regions: [on-prem]
                denied_providers: [openai]
                required_tags: [customer]
                guardrails: { secrets: block, emails: redact }
              - name: web-key
                scope: key:abcdefabcdef
                allowed_tools: [search]
                max_run_cost: "2.5"
                max_run_requests: 500
                max_run_duration_seconds: 28800
                on_loop: stop
                loop_repeats: 4
                loop_window_seconds: 120
            limits:
              - scope: project:acme/web
                requests_per_minute: 600
                tokens_per_minute: 100000
                concurrent_requests: 20
            budgets:
              - name: acme-monthly
                scope: tenant:acme
                limit: "100.50"
                alert_at: [0.5, 0.8]
              - name: trial
                scope: agent:acme/nightly
                period: window
                start: 2026-11-01
                end: 2026-12-01
                limit: 5
                currency: EUR
            governance:
              alert_webhook: "http://127.0.0.1:9/alerts"
              assumed_output_tokens: 2048
            """

    @Test func readsPoliciesLimitsAndBudgets() throws {
        let configuration = try ConfigurationLoader.parse(Self.yaml, file: "governance.yaml")
        #expect(configuration.tenant(named: "acme")?.projects == ["web", "mobile"])
        #expect(configuration.tenant(named: "acme")?.weight == 3)
        #expect(configuration.tenant(named: "globex")?.weight == 1)
        #expect(
            configuration.deployment(named: "gemma-local")?.queue
                == AdmissionQueuePolicy(timeout: .milliseconds(2500), maxWaiting: 50))
        let guardPolicy = try #require(configuration.policies.first)
        #expect(guardPolicy.scope == .tenant("acme"))
        #expect(guardPolicy.allowedRoutes == ["chat"])
        #expect(guardPolicy.deniedTools == ["shell"])
        #expect(guardPolicy.maxCostPerRequest == Money(nanos: 50_000_000, currency: "USD"))
        #expect(guardPolicy.deniedProviders == ["openai"])
        #expect(guardPolicy.requiredTags == ["customer"])
        #expect(guardPolicy.guardrails == [.secrets: .block, .emails: .redact])
        #expect(configuration.policies[1].scope == .key("abcdefabcdef"))
        let runs = configuration.policies[1]
        #expect(runs.maxRunCost == Money(nanos: 2_500_000_000, currency: "USD"))
        #expect(runs.maxRunRequests == 500)
        #expect(runs.maxRunDuration == .seconds(28_800))
        #expect(runs.onLoop == .stop)
        #expect(runs.loopRepeats == 4)
        #expect(runs.loopWindow == .seconds(120))
        #expect(
            configuration.limits == [
                RateLimit(
                    scope: .project(tenant: "acme", project: "web"), requestsPerMinute: 600, tokensPerMinute: 100_000,
                    concurrentRequests: 20)
            ])
        #expect(configuration.budgets[0].limit == Money(nanos: 100_500_000_000, currency: "USD"))
        #expect(configuration.budgets[0].period == .month)
        #expect(configuration.budgets[0].alertThresholds == [Decimal(string: "0.5")!, Decimal(string: "0.8")!])
        #expect(configuration.budgets[1].limit == Money(nanos: 5_000_000_000, currency: "EUR"))
        guard case .window(let start, let end) = configuration.budgets[1].period else {
            Issue.record("expected a window")
            return
        }
        #expect(start.rfc3339Seconds == "2026-11-01T00:00:00Z")
        #expect(end.rfc3339Seconds == "2026-12-01T00:00:00Z")
        #expect(configuration.governance.assumedOutputTokens == 2048)
        #expect(configuration.governance.alertWebhook == "http://127.0.0.1:9/alerts")
    }

    func expectError(_ from: String, _ to: String, _ reason: String) {
        do {
            _ = try ConfigurationLoader.parse(Self.yaml.replacingOccurrences(of: from, with: to), file: "governance.yaml")
            Issue.record("expected an error containing \(reason)")
        } catch let error as ConfigurationError {
            #expect(error.description.contains(reason), "\(error)")
            #expect(error.line != nil)
        } catch {
            Issue.record("\(error)")
        }
    }

    @Test func rejectsWhatWouldGovernNothingOrTheWrongThing() {
        expectError(
            "scope: tenant:acme\n    allowed_routes", "scope: tenant:acmee\n    allowed_routes", "no tenant named 'acmee'")
        expectError("scope: project:acme/web", "scope: project:acme/shop", "declares no project 'shop'")
        expectError("scope: key:abcdefabcdef", "scope: team:x", "is not a scope")
        expectError("allowed_routes: [chat]", "allowed_routes: [chatt]", "no route named 'chatt'")
        expectError("denied_providers: [openai]", "denied_providers: [azure]", "no provider named 'azure'")
        expectError("max_cost_per_request: \"0.05\"", "max_cost_per_request: \"0.0000000001\"", "at most 9 decimals")
        expectError("alert_at: [0.5, 0.8]", "alert_at: [0.5, 1.2]", "between 0 and 1")
        expectError("period: window", "period: week", "expected day, month or window")
        expectError("secrets: block", "secrets: shred", "expected allow, redact or block")
        expectError("secrets: block", "phones: block", "unknown key 'phones'")
        expectError("weight: 3", "weight: 0", "between 1 and 1000")
        expectError("on_loop: stop", "on_loop: kill", "expected flag or stop")
        expectError("loop_repeats: 4", "loop_repeats: 65", "between 2 and 64")
        expectError("scope: key:abcdefabcdef", "scope: run:acme/r1", "a run is a kill switch's scope only")
        expectError("    max_concurrency: 4\n", "", "a queue needs max_concurrency")
        expectError("start: 2026-11-01", "start: 2026-11-01T00:30:00Z", "whole hour")
        expectError(
            "    requests_per_minute: 600\n    tokens_per_minute: 100000\n    concurrent_requests: 20\n", "    burst: 1\n",
            "unknown key 'burst'")
        expectError("assumed_output_tokens: 2048", "assumed_output_tokens: 0", "between 1 and")
        expectError(
            "limits:\n  - scope: project:acme/web\n",
            "limits:\n  - scope: project:acme/web\n    concurrent_requests: 1\n  - scope: project:acme/web\n",
            "declared twice")
    }
}
