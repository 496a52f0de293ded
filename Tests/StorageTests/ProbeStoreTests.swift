import Storage
import SwitchyardCore
import TestSupport
import Testing

/// Canary probe rounds and schedule slots, on both engines.
@Suite struct ProbeStoreTests {
    static func round(
        _ deployment: String, at: Int64, model: String = "m", cost: Int64 = 10, ppm: Int64? = 500_000,
        drifted: Bool = false, running: Bool = false
    ) -> StoredProbeRound {
        StoredProbeRound(
            deployment: deployment, startedAt: UnixMicros(at), declaredModel: model, costNanos: cost, currency: "USD",
            qualityPPM: ppm, drifted: drifted, detail: running ? "" : #"{"at":\#(at)}"#)
    }

    /// A due slot goes to exactly one of several racing claimers, and is not due again until `next`.
    @Test(arguments: TestEngine.available)
    func aDueSlotIsClaimedOnce(_ engine: TestEngine) async throws {
        let url = try engine.freshURL()
        let stores = [try await SQLStore.open(url), try await SQLStore.open(url)]
        let wins = try await withThrowingTaskGroup(of: Bool.self) { group in
            for index in 0..<8 {
                group.addTask {
                    try await stores[index % 2].claimProbeSlot(
                        deployment: "gpu", now: UnixMicros(1_000), next: UnixMicros(2_000))
                }
            }
            return try await group.reduce(0) { $0 + ($1 ? 1 : 0) }
        }
        #expect(wins == 1)
        #expect(try await !stores[0].claimProbeSlot(deployment: "gpu", now: UnixMicros(1_999), next: UnixMicros(3_000)))
        #expect(try await stores[1].claimProbeSlot(deployment: "gpu", now: UnixMicros(2_000), next: UnixMicros(3_000)))
        #expect(try await stores[1].claimProbeSlot(deployment: "other", now: UnixMicros(2_000), next: UnixMicros(3_000)))
        for store in stores { await store.close() }
    }

    @Test(arguments: TestEngine.available)
    func roundsAreListedBySpendAndLatest(_ engine: TestEngine) async throws {
        let store = try await SQLStore.open(try engine.freshURL())
        for round in [
            Self.round("a", at: 100), Self.round("a", at: 200, cost: 5), Self.round("a", at: 300, model: "m2", cost: 7),
            Self.round("b", at: 150, cost: 1),
        ] {
            try await store.saveProbeRound(round)
        }
        #expect(
            try await store.probeBaseline(deployment: "a", declaredModel: "m", limit: 10).map(\.startedAt.value) == [200, 100])
        #expect(try await store.latestProbeRounds().map(\.startedAt.value) == [300, 150])
        #expect(try await store.probeSpend(since: UnixMicros(150), currency: "USD") == 13)
        #expect(try await store.probeSpend(since: UnixMicros(0), currency: "EUR") == 0)
        await store.close()
    }

    /// The baseline leaves out drifted, unscored and running rounds; a running round's reservation
    /// counts against the budget; a deployment's score is its latest scored round's, and 0 when
    /// it was probed and never scored.
    @Test(arguments: TestEngine.available)
    func baselinesScoresAndReservations(_ engine: TestEngine) async throws {
        let store = try await SQLStore.open(try engine.freshURL())
        for round in [
            Self.round("a", at: 100, ppm: 900_000), Self.round("a", at: 200, ppm: 100_000, drifted: true),
            Self.round("a", at: 300, ppm: nil), Self.round("a", at: 400, cost: 1_000, ppm: nil, running: true),
            Self.round("b", at: 100, ppm: nil), Self.round("c", at: 100, cost: 5, ppm: nil, running: true),
        ] {
            try await store.saveProbeRound(round)
        }
        #expect(try await store.probeBaseline(deployment: "a", declaredModel: "m", limit: 10).map(\.startedAt.value) == [100])
        #expect(try await store.latestProbeRounds().map(\.startedAt.value) == [300, 100])
        #expect(try await store.probeScores() == ["a": 100_000, "b": 0])
        #expect(try await store.probeSpend(since: UnixMicros(0), currency: "USD") == 10 + 10 + 10 + 1_000 + 10 + 5)
        await store.close()
    }
}
