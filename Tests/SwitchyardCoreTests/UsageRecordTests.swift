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
            status: 200, errorClass: nil, tags: ["customer": "c1"], replica: "gw-eu-1:8080")
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
        #expect(record.replica == nil)
    }
}

/// The shared generator behind routing choices and request ids: uniform enough to be fair,
/// and ids do not repeat.
@Suite struct SharedRandomTests {
    @Test func unitsFillTheIntervalEvenly() {
        var buckets = [Int](repeating: 0, count: 10)
        for _ in 0..<100_000 {
            let value = SharedRandom.unit()
            #expect(value >= 0 && value < 1)
            buckets[Int(value * 10)] += 1
        }
        // 10,000 expected per bucket; 5 % off is more than 15 standard deviations.
        #expect(buckets.allSatisfy { (9_500...10_500).contains($0) }, "\(buckets)")
    }

    @Test func requestIDsDoNotRepeatWithinTheSameMicrosecond() {
        let now = UnixMicros(1_700_000_000_000_000)
        let ids = (0..<50_000).map { _ in RandomIdentifier.requestID(now: now) }
        #expect(Set(ids).count == ids.count)
        #expect(ids.allSatisfy { $0.utf8.count == 30 && $0.hasPrefix("req_") })
    }
}
