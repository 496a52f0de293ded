import Foundation
import Testing

@testable import SwitchyardCore

@Suite struct UsageRecordTests {
    @Test func roundTripsThroughJSONForTheJournal() throws {
        let record = UsageRecord(
            id: RandomIdentifier.requestID(), startedAt: UnixMicros(1_700_000_000_000_000),
            finishedAt: UnixMicros(1_700_000_000_250_000), tenant: "acme", agent: "bot", keyID: "k1",
            endpoint: "chat.completions", route: "chat", deployment: "gemma-local", provider: "local",
            upstreamModel: "gemma-3-270m", streamed: true,
            usage: TokenUsage(inputTokens: 10, outputTokens: 7, cachedInputTokens: 2, isEstimated: true),
            cost: Money(nanos: 480, currency: "USD"), latencyMicros: 250_000, timeToFirstTokenMicros: 90_000,
            status: 200, errorClass: nil, tags: ["customer": "c1"])
        let decoded = try JSONDecoder().decode(UsageRecord.self, from: JSONEncoder().encode(record))
        #expect(decoded == record)
    }

    @Test func requestIDsSortByTime() {
        let earlier = RandomIdentifier.requestID(now: UnixMicros(1_000))
        let later = RandomIdentifier.requestID(now: UnixMicros(2_000))
        #expect(earlier < later)
        #expect(earlier.hasPrefix("req_"))
        // 14 hex digits of microseconds, then 12 random characters of [0-9a-z].
        let id = RandomIdentifier.requestID(now: UnixMicros(1_700_000_000_123_456))
        #expect(id.hasPrefix("req_0" + String(1_700_000_000_123_456, radix: 16)))
        #expect(id.utf8.count == 30)
        #expect(id.dropFirst(18).allSatisfy { ("0"..."9").contains($0) || ("a"..."z").contains($0) })
        let ids = Set((0..<1000).map { _ in RandomIdentifier.requestID(now: UnixMicros(5)) })
        #expect(ids.count == 1000)
    }
}

@Suite struct UsageRecordCompatibilityTests {
    @Test func journalLinesWithoutNewerFieldsStillDecode() throws {
        let line =
            #"{"id":"req_1","startedAt":1,"finishedAt":2,"tenant":"acme","endpoint":"chat.completions","streamed":false,"usage":{"inputTokens":3,"outputTokens":4,"cachedInputTokens":0,"isEstimated":false},"cost":{"nanos":140,"currency":"USD"},"latencyMicros":1,"status":200}"#
        let record = try JSONDecoder().decode(UsageRecord.self, from: Data(line.utf8))
        #expect(record.attempts.isEmpty)
        #expect(record.tags.isEmpty)
        #expect(record.usage.outputTokens == 4)
    }
}
