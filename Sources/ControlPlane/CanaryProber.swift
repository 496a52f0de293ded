import DataPlane
import Foundation
import Logging
import Probes
import ServiceLifecycle
import Storage
import SwitchyardConfig
import SwitchyardCore

/// Runs canary-fact probes (`probes:`): once per `interval`, each probed deployment gets a round
/// of synthetic long-context prompts with facts planted at chosen depths, and its recall per
/// length and depth is scored. One replica runs each round (the store's schedule slot is claimed),
/// within the day's probe budget; every replica reads the latest scores for routing
/// (`min_quality`, `quality-per-cost`). A round whose answers changed character against the
/// deployment's baseline opens a "model changed" incident, resolved when a round matches the
/// baseline again (or the declared model changes).
public final class CanaryProber: Service, Sendable {
    private let gateway: Gateway
    private let caller: ProbeCaller
    private let settings: SwitchyardConfiguration.Probes
    private let deployments: [Deployment]
    private let drift: DriftCheck
    /// How often the schedule is looked at, and scores re-read.
    private let tick: Duration

    /// nil when probes are off.
    public init?(gateway: Gateway) {
        let settings = gateway.configuration.probes
        guard settings.enabled else { return nil }
        self.gateway = gateway
        self.caller = ProbeCaller(gateway: gateway)
        self.settings = settings
        let names = settings.deployments.map(Set.init)
        self.deployments = gateway.configuration.deployments.filter { names?.contains($0.name) ?? true }
        var drift = DriftCheck.Settings()
        drift.minimumBaseline = settings.driftMinimumBaseline
        drift.sensitivity = settings.driftSensitivity
        drift.qualityDrop = settings.driftQualityDrop
        drift.lengthShare = settings.driftLengthShare
        self.drift = DriftCheck(settings: drift)
        self.tick = min(settings.interval, .seconds(15))
    }

    public func run() async throws {
        try? await cancelWhenGracefulShutdown {
            while true {
                await self.probeWhatIsDue()
                await self.refreshScores()
                try await Task.sleep(for: self.tick)
            }
        }
    }

    /// The prompt lengths probed on `deployment`: those configured, or doubling from 256; either
    /// way only those whose prompt and answer fit its context window.
    func lengths(for deployment: Deployment) -> [Int] {
        let room = (deployment.contextWindow ?? 16_384) - settings.maxOutputTokens - 64
        if let lengths = settings.lengths { return lengths.filter { $0 <= room } }
        var lengths: [Int] = []
        var length = 256
        let longest = (deployment.contextWindow ?? 16_384) * 3 / 4
        while length <= min(longest, room), lengths.count < 6 {
            lengths.append(length)
            length *= 2
        }
        return lengths
    }

    func probeWhatIsDue(at now: UnixMicros = .now()) async {
        let next = UnixMicros(now.value + Int64(settings.interval.microseconds))
        for deployment in deployments where !Task.isCancelled {
            do {
                guard try await gateway.store.claimProbeSlot(deployment: deployment.name, now: now, next: next) else { continue }
                try await probe(deployment)
            } catch {
                gateway.logger.warning(
                    "canary probe round failed", metadata: ["deployment": "\(deployment.name)", "error": "\(error)"])
            }
        }
    }

    /// One round on `deployment`, stored, with drift judged against its baseline.
    func probe(_ deployment: Deployment) async throws {
        let startedAt = UnixMicros.now()
        let budget = settings.budgetPerDay
        let prices = deployment.priceSchedule.prices(at: startedAt)
        guard prices.currency == budget.currency else {
            gateway.logger.warning(
                "canary probes skip a deployment priced in another currency than probes.currency",
                metadata: ["deployment": "\(deployment.name)", "currency": "\(prices.currency)"])
            return
        }
        let dayStart = UnixMicros(startedAt.value - startedAt.value % 86_400_000_000)
        let spentToday = try await gateway.store.probeSpend(since: dayStart, currency: budget.currency)
        var round = ProbeRound(
            deployment: deployment.name, declaredModel: deployment.model, startedAt: startedAt, currency: budget.currency)
        var random = SystemRandomNumberGenerator()
        for length in lengths(for: deployment) {
            for _ in 0..<settings.samples {
                let prompt = CanaryPrompt.make(targetTokens: length, depths: settings.depths, using: &random)
                // Sent only if its worst case fits what is left of the day's budget.
                let worstCase = prices.cost(
                    of: TokenUsage(
                        inputTokens: CanaryPrompt.worstCaseTokens(characters: prompt.text.count),
                        outputTokens: settings.maxOutputTokens))
                guard spentToday + round.costNanos + worstCase.nanos <= budget.nanos else {
                    round.skippedForBudget += 1
                    continue
                }
                let answer = await caller.ask(prompt.text, maxOutputTokens: settings.maxOutputTokens, deployment: deployment)
                round.observations.append(
                    ProbeObservation(
                        targetTokens: length, promptTokens: answer.usage.inputTokens,
                        outputTokens: answer.text == nil ? 0 : answer.usage.outputTokens, depths: prompt.facts.map(\.depth),
                        recalled: answer.text.map { RecallGrader.recalled(prompt.facts, in: $0) } ?? [],
                        latencyMicros: answer.latencyMicros, costNanos: answer.cost.nanos, model: answer.model,
                        fingerprint: answer.fingerprint, error: answer.error, facts: prompt.facts, answer: answer.text))
            }
        }
        if round.skippedForBudget > 0 {
            gateway.logger.warning(
                "canary probes left out: the day's probe budget has no room for them",
                metadata: [
                    "deployment": "\(deployment.name)", "skipped": "\(round.skippedForBudget)",
                    "budget_per_day": "\(budget.decimalString) \(budget.currency)",
                ])
        }
        guard !round.observations.isEmpty else { return }
        let baseline = try await gateway.store.probeRounds(
            deployment: deployment.name, declaredModel: deployment.model, limit: 30
        ).compactMap(Self.decode).reversed()
        if !round.answered.isEmpty { round.drift = drift.signals(round, baseline: Array(baseline)) }
        try await gateway.store.saveProbeRound(
            StoredProbeRound(
                deployment: deployment.name, startedAt: startedAt, declaredModel: deployment.model,
                costNanos: round.costNanos, currency: round.currency, detail: Self.encode(round)))
        if let score = round.curve.score {
            gateway.metrics.set(
                "switchyard_probe_quality_percent", help: "The latest canary recall score of each probed deployment (0-100).",
                labels: [("deployment", deployment.name)], to: Int64((score * 100).rounded()))
        }
        gateway.logger.info(
            "canary probe round",
            metadata: [
                "deployment": "\(deployment.name)", "score": "\(round.curve.score.map { "\($0)" } ?? "none")",
                "probes": "\(round.observations.count)", "cost": "\(Money.format(nanos: round.costNanos))",
            ])
        if !round.answered.isEmpty { try await DriftIncidents(gateway: gateway).follow(round) }
    }

    /// Every replica routes on the latest scores in the store.
    func refreshScores() async {
        guard let rounds = try? await gateway.store.latestProbeRounds() else { return }
        var scores: [String: Double] = [:]
        for stored in rounds {
            guard let round = Self.decode(stored), let score = round.curve.score else { continue }
            scores[round.deployment] = score
        }
        gateway.monitor.setQualityScores(scores)
    }

    static func encode(_ round: ProbeRound) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return (try? encoder.encode(round)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
    }

    static func decode(_ stored: StoredProbeRound) -> ProbeRound? {
        try? JSONDecoder().decode(ProbeRound.self, from: Data(stored.detail.utf8))
    }
}
