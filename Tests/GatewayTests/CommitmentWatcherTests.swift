import Foundation
import SwitchyardCore
import Testing

@testable import ControlPlane
@testable import DataPlane

@Suite struct CommitmentWatcherTests {
    static let yaml =
        TestGateway.configurationYAML + """

            commitments:
              - {name: openai-2026, provider: openai, start: 2026-01-01, end: 2027-01-01, committed_spend: 100, discount_rate: 0.2}
            finops:
              alert_webhook: "http://127.0.0.1:9/hooks/finops"
            """

    @Test func aForecastShortfallAlertsOnceAndSteersPreferCommittedRoutes() async throws {
        let test = try await TestGateway.make(yaml: Self.yaml) { _ in ReplayTransport.respond(["{}"]) }
        // 1 listed per day on 1–10 November on openai → 0.8 contracted per day, forecast 24 of 100.
        let records = (1...10).map { day in
            let start = UnixMicros(UnixMicros(dateOrTimestamp: "2026-11-01")!.value + Int64(day - 1) * 86_400_000_000)
            return UsageRecord(
                id: "c\(day)", startedAt: start, finishedAt: start, tenant: "acme", agent: nil, keyID: "k",
                endpoint: "chat.completions", route: "smart", deployment: "gpt-4o-mini", provider: "openai",
                upstreamModel: "gpt-4o-mini", streamed: false, usage: TokenUsage(inputTokens: 1, outputTokens: 1),
                cost: Money(nanos: 1_000_000_000, currency: "USD"), latencyMicros: 1, timeToFirstTokenMicros: nil, status: 200,
                errorClass: nil, tags: [:])
        }
        try await test.store.insertUsage(records)
        let watcher = CommitmentWatcher(gateway: test.gateway)
        let now = UnixMicros(dateOrTimestamp: "2026-11-11")!
        let statuses = await watcher.check(now: now)
        #expect(statuses.first?.forecastSpendNanos == 24_000_000_000)
        #expect(statuses.first?.shortfallNanos == 76_000_000_000)
        #expect(test.gateway.monitor.hasUnderUsedCommitment(provider: "openai"))
        let hooks = test.transport.requests.filter { $0.url == "http://127.0.0.1:9/hooks/finops" }
        #expect(hooks.count == 1)
        let payload = try JSONSerialization.jsonObject(with: Data(hooks[0].body)) as! [String: Any]
        #expect(payload["type"] as? String == "commitment.shortfall")
        #expect(payload["shortfall"] as? String == "76.000000000")
        #expect(payload["forecast_utilization"] as? String == "0.24")
        // A standing shortfall is not announced again in the same period.
        await watcher.check(now: UnixMicros(now.value + 3_600_000_000))
        #expect(test.transport.requests.filter { $0.url.hasSuffix("/hooks/finops") }.count == 1)
    }
}
