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
        do {
            try await DriftIncidents(gateway: gateway).resolveUnprobed(probed: Set(deployments.map(\.name)))
        } catch {
            gateway.logger.warning("could not resolve drift incidents of unprobed deployments", metadata: ["error": "\(error)"])
        }
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

    /// Each due deployment's round, side by side: a slow deployment holds only its own.
    func probeWhatIsDue() async {
        await withTaskGroup(of: Void.self) { group in
            for deployment in deployments {
                group.addTask {
                    let now = UnixMicros.now()
                    let next = UnixMicros(now.value + Int64(self.settings.interval.microseconds))
                    do {
                        guard try await self.gateway.store.claimProbeSlot(deployment: deployment.name, now: now, next: next)
                        else { return }
                        try await self.probe(deployment)
                    } catch {
                        self.gateway.logger.warning(
                            "canary probe round failed", metadata: ["deployment": "\(deployment.name)", "error": "\(error)"])
                    }
                }
            }
        }
    }

    /// One round on `deployment`: sent only if its worst case fits what is left of the day's
    /// budget, reserved against it before the first probe (so other replicas see it), stored
    /// with what it counts against the budget (a failed probe at its worst case: it may have
    /// been billed), and judged for drift against the deployment's baseline.
    func probe(_ deployment: Deployment) async throws {
        let startedAt = UnixMicros.now()
        let start = ContinuousClock.now
        let budget = settings.budgetPerDay
        let prices = deployment.priceSchedule.prices(at: startedAt)
        guard prices.currency == budget.currency else {
            gateway.logger.warning(
                "canary probes skip a deployment priced in another currency than probes.currency",
                metadata: ["deployment": "\(deployment.name)", "currency": "\(prices.currency)"])
            return
        }
        var random = SystemRandomNumberGenerator()
        let prompts = lengths(for: deployment).flatMap { length in
            (0..<settings.samples).map { _ in
                CanaryPrompt.make(targetTokens: length, depths: settings.depths, using: &random)
            }
        }
        func worstCase(_ prompt: CanaryPrompt) -> Int64 {
            prices.cost(
                of: TokenUsage(
                    inputTokens: CanaryPrompt.worstCaseTokens(characters: prompt.text.count),
                    outputTokens: settings.maxOutputTokens)
            ).nanos
        }
        let roundWorstCase = prompts.reduce(Int64(0)) { $0.addingClamped(worstCase($1)) }
        let dayStart = UnixMicros(startedAt.value - startedAt.value % 86_400_000_000)
        let spentToday = try await gateway.store.probeSpend(since: dayStart, currency: budget.currency)
        guard !prompts.isEmpty, spentToday.addingClamped(roundWorstCase) <= budget.nanos else {
            gateway.logger.warning(
                "canary probe round left out: the day's probe budget has no room for its worst case",
                metadata: [
                    "deployment": "\(deployment.name)", "worst_case": "\(Money.format(nanos: roundWorstCase))",
                    "spent_today": "\(Money.format(nanos: spentToday))",
                    "budget_per_day": "\(budget.decimalString) \(budget.currency)",
                ])
            return
        }
        var stored = StoredProbeRound(
            deployment: deployment.name, startedAt: startedAt, declaredModel: deployment.model, costNanos: roundWorstCase,
            currency: budget.currency, detail: "")
        try await gateway.store.saveProbeRound(stored)

        var round = ProbeRound(
            deployment: deployment.name, declaredModel: deployment.model, startedAt: startedAt, currency: budget.currency)
        var charged: Int64 = 0
        // A round must not run into the next one's slot (another replica may claim it).
        let cutoff = start + settings.interval * 0.8
        for prompt in prompts {
            guard ContinuousClock.now < cutoff, !Task.isCancelled else { break }
            let answer = await caller.ask(prompt.text, maxOutputTokens: settings.maxOutputTokens, deployment: deployment)
            charged = charged.addingClamped(answer.error == nil ? answer.cost.nanos : max(answer.cost.nanos, worstCase(prompt)))
            round.observations.append(
                ProbeObservation(
                    targetTokens: prompt.targetTokens, promptTokens: answer.usage.inputTokens,
                    outputTokens: answer.text == nil ? 0 : answer.usage.outputTokens, depths: prompt.facts.map(\.depth),
                    recalled: answer.text.map { RecallGrader.recalled(prompt.facts, in: $0) } ?? [],
                    latencyMicros: answer.latencyMicros, costNanos: answer.cost.nanos, model: answer.model,
                    fingerprint: answer.fingerprint, error: answer.error, refused: answer.refused, facts: prompt.facts,
                    answer: answer.text))
        }
        let score = round.curve.score
        if score != nil {
            let baseline = try await gateway.store.probeBaseline(
                deployment: deployment.name, declaredModel: deployment.model, limit: 30
            ).compactMap(Self.decode).reversed()
            round.drift = drift.signals(round, baseline: Array(baseline))
        }
        stored.costNanos = charged
        stored.qualityPPM = score.map { Int64(($0 * 1_000_000).rounded()) }
        stored.drifted = !round.drift.isEmpty
        stored.detail = Self.encode(round)
        try await gateway.store.saveProbeRound(stored)
        if let score {
            gateway.metrics.set(
                "switchyard_probe_quality_percent", help: "The latest canary recall score of each probed deployment (0-100).",
                labels: [("deployment", deployment.name)], to: Int64((score * 100).rounded()))
        }
        gateway.logger.info(
            "canary probe round",
            metadata: [
                "deployment": "\(deployment.name)", "score": "\(score.map { "\($0)" } ?? "none")",
                "probes": "\(round.observations.count)", "cost": "\(Money.format(nanos: round.costNanos))",
            ])
        if score != nil { try await DriftIncidents(gateway: gateway).follow(round) }
    }

    /// Every replica routes on the latest scores in the store.
    func refreshScores() async {
        guard let scores = try? await gateway.store.probeScores() else { return }
        gateway.monitor.setQualityScores(scores.mapValues { Double($0) / 1_000_000 })
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
