import Probes
import SwitchyardCore
import Testing

@Suite struct CanaryPromptTests {
    /// Facts sit at their depths, the codes are the text's only digits, and the question asks for
    /// every vault; two prompts from different seeds share no fixed wording beyond the fact
    /// sentence's shape.
    @Test func plantsEveryFactAtItsDepth() {
        var random = SplitMix64(seed: 7)
        let prompt = CanaryPrompt.make(targetTokens: 2_000, depths: [0.1, 0.5, 0.9], using: &random)
        #expect(prompt.facts.count == 3)
        #expect(Set(prompt.facts.map(\.code)).count == 3)
        let (body, question) = split(prompt.text)
        for fact in prompt.facts {
            let position = try! #require(body.range(of: "vault \(fact.key) is \(fact.code)."))
            let share = Double(body.distance(from: body.startIndex, to: position.lowerBound)) / Double(body.count)
            #expect(abs(share - fact.depth) < 0.05, "fact at \(fact.depth) found at \(share)")
            #expect(question.contains(fact.key))
            #expect(!question.contains(fact.code))
        }
        let digits = body.split(whereSeparator: { !$0.isNumber }).map(String.init)
        #expect(Set(digits) == Set(prompt.facts.flatMap { [$0.key, $0.code] }))
        // Sized for the target at 3 characters a token, and never wildly past it.
        #expect(prompt.text.count >= 2_000 * 3 - 200 && prompt.text.count <= 2_000 * 3 + 200)
        var other = SplitMix64(seed: 8)
        let second = CanaryPrompt.make(targetTokens: 2_000, depths: [0.1, 0.5, 0.9], using: &other)
        #expect(split(second.text).0.prefix(200) != body.prefix(200))
    }

    @Test func worstCaseCoversTwoCharactersAToken() {
        #expect(CanaryPrompt.worstCaseTokens(characters: 6_000) == 3_001)
    }

    private func split(_ text: String) -> (Substring, Substring) {
        let parts = text.split(separator: "\n\n", maxSplits: 1)
        return (parts[0], parts[1])
    }
}

@Suite struct RecallGraderTests {
    let facts = [
        CanaryFact(key: "17", code: "4821", depth: 0.1), CanaryFact(key: "302", code: "9090", depth: 0.5),
        CanaryFact(key: "45", code: "1234", depth: 0.9),
    ]

    @Test func countsCodesThatAppearAsWholeNumbers() {
        #expect(RecallGrader.recalled(facts, in: "vault 17: 4821\nvault 302: 9090\nvault 45: 1234") == [true, true, true])
        #expect(RecallGrader.recalled(facts, in: "vault 17: 4821, vault 302: unknown") == [true, false, false])
        // Part of a longer number, or a near miss, is not recall.
        #expect(RecallGrader.recalled(facts, in: "48210 and 909 and 12345") == [false, false, false])
        #expect(RecallGrader.recalled(facts, in: "") == [false, false, false])
        #expect(RecallGrader.recalled(facts, in: "(4821)/9090.") == [true, true, false])
    }
}

@Suite struct QualityCurveTests {
    static func observation(_ tokens: Int, _ recalled: [Bool], error: String? = nil, output: Int = 20) -> ProbeObservation {
        ProbeObservation(
            targetTokens: tokens, promptTokens: tokens, outputTokens: output,
            depths: Array([0.1, 0.5, 0.9].prefix(recalled.count)), recalled: recalled, latencyMicros: 1000, costNanos: 10,
            model: "m", fingerprint: nil, error: error)
    }

    /// Recall per length and depth, and the area under recall over log₂ length: 256 → 1, 1024 →
    /// 0 is a straight line on the log axis, so the score is one half.
    @Test func scoresTheAreaUnderTheCurve() {
        let curve = QualityCurve([
            Self.observation(256, [true, true, true]), Self.observation(1024, [false, false, false]),
        ])
        #expect(curve.byLength.map(\.recall) == [1, 0])
        #expect(curve.byDepth.map(\.recall) == [0.5, 0.5, 0.5])
        #expect(abs(curve.score! - 0.5) < 1e-9)
        // 256 → 1, 512 → 1, 1024 → 0: the first doubling is whole, the second a triangle.
        let three = QualityCurve([
            Self.observation(256, [true, true]), Self.observation(512, [true, true]), Self.observation(1024, [false, false]),
        ])
        #expect(abs(three.score! - 0.75) < 1e-9)
        #expect(QualityCurve([Self.observation(256, [true, false])]).score == 0.5)
    }

    /// A prompt the deployment refused (4xx: too long for it) recalls nothing at its length, so a
    /// deployment cannot raise its score by refusing the long prompts.
    @Test func refusedPromptsRecallNothing() {
        var refused = Self.observation(1024, [], error: "HTTP 400: context length exceeded")
        refused.depths = [0.1, 0.5, 0.9]
        refused.refused = true
        let curve = QualityCurve([Self.observation(256, [true, true, true]), refused])
        #expect(curve.byLength.map(\.recall) == [1, 0])
        #expect(abs(curve.score! - 0.5) < 1e-9)
    }

    @Test func failuresAreLeftOutOfRecall() {
        let curve = QualityCurve([
            Self.observation(256, [true, true, true]), Self.observation(1024, [], error: "HTTP 500"),
        ])
        #expect(curve.byLength.map(\.tokens) == [256])
        #expect(curve.score == 1)
        #expect(QualityCurve([Self.observation(256, [], error: "timeout")]).score == nil)
    }
}

@Suite struct DriftCheckTests {
    /// A round of four prompts of three facts, the first recalling `recalled` and the others all.
    static func round(
        model: String? = "gpt-x", fingerprint: String? = nil, recalled: [Bool] = [true, true, true], output: Int = 20,
        declared: String = "gpt-x", drift: [DriftSignal] = [], allFour: Bool = false
    ) -> ProbeRound {
        let observations = (0..<4).map { index in
            var observation = QualityCurveTests.observation(
                512, index == 0 || allFour ? recalled : [true, true, true], output: output)
            observation.model = model
            observation.fingerprint = fingerprint
            return observation
        }
        return ProbeRound(
            deployment: "d", declaredModel: declared, startedAt: .now(), currency: "USD", observations: observations,
            drift: drift)
    }

    let check = DriftCheck()

    @Test func aNewModelNameOrFingerprintIsDriftAtOnce() {
        let baseline = [Self.round(fingerprint: "fp_1")]
        #expect(check.signals(Self.round(fingerprint: "fp_1"), baseline: baseline).isEmpty)
        #expect(
            check.signals(Self.round(model: "gpt-y", fingerprint: "fp_1"), baseline: baseline) == [
                .modelChanged(from: "gpt-x", to: "gpt-y")
            ])
        #expect(
            check.signals(Self.round(fingerprint: "fp_2"), baseline: baseline) == [
                .fingerprintChanged(from: "fp_1", to: "fp_2")
            ])
        // No model named now, or before: nothing to compare.
        #expect(check.signals(Self.round(model: nil), baseline: baseline).isEmpty)
    }

    /// Quality and length are judged once the baseline has three rounds, against a band no
    /// narrower than the configured floor.
    @Test func qualityAndLengthLeaveTheirBands() {
        let steady = [Self.round(), Self.round(), Self.round()]
        // Of 12 facts, 2 lost (0.83) is chance; 4 lost (0.67) is past the floor of 1 − 0.22 (three
        // standard errors of 12 facts) but not past a configured drop of 0.4.
        #expect(check.signals(Self.round(recalled: [true, false, false]), baseline: steady) == [])
        let dropped = check.signals(Self.round(recalled: [true, true, false], allFour: true), baseline: steady)
        guard case .qualityDropped(let expected, let observed, let floor)? = dropped.first, dropped.count == 1 else {
            Issue.record("expected a quality drop, got \(dropped)")
            return
        }
        #expect(expected == 1 && abs(observed - 2.0 / 3) < 1e-9 && abs(floor - 0.778) < 0.01)
        var lenient = DriftCheck.Settings()
        lenient.qualityDrop = 0.4
        #expect(
            DriftCheck(settings: lenient).signals(Self.round(recalled: [true, true, false], allFour: true), baseline: steady)
                == [])
        #expect(
            check.signals(Self.round(recalled: [false, false, false], allFour: true), baseline: Array(steady.prefix(2))) == [])
        #expect(
            check.signals(Self.round(output: 0), baseline: steady) == [.outputLengthShifted(expected: 20, observed: 0)])
        #expect(check.signals(Self.round(output: 25), baseline: steady) == [])
    }

    /// Rounds that raised drift, or were of another declared model, are not the baseline: a
    /// swapped model stays flagged round after round instead of becoming the norm.
    @Test func driftedRoundsStayOutOfTheBaseline() {
        let swapped = Self.round(model: "gpt-y", drift: [.modelChanged(from: "gpt-x", to: "gpt-y")])
        let baseline = [Self.round(), swapped, swapped, swapped]
        #expect(check.signals(Self.round(model: "gpt-y"), baseline: baseline) == [.modelChanged(from: "gpt-x", to: "gpt-y")])
        #expect(check.signals(Self.round(), baseline: baseline).isEmpty)
        let redeclared = Self.round(model: "gpt-y", declared: "gpt-y")
        #expect(check.signals(redeclared, baseline: baseline).isEmpty)
    }
}

@Suite struct ProbeRoundTests {
    /// A provider's absurd costs saturate instead of trapping.
    @Test func costsSaturate() {
        var round = ProbeRound(deployment: "d", declaredModel: "m", startedAt: .now(), currency: "USD")
        for _ in 0..<2 { round.observations.append(QualityCurveTests.observation(256, [true]).with(cost: .max)) }
        #expect(round.costNanos == .max)
    }
}

extension ProbeObservation {
    func with(cost: Int64) -> ProbeObservation {
        var copy = self
        copy.costNanos = cost
        return copy
    }
}

@Suite struct ScorecardTests {
    @Test func trafficFiguresAreExact() {
        var traffic = DeploymentTraffic()
        traffic.requests = 10
        traffic.providerErrors = 1
        traffic.tokens = 3_000
        traffic.costNanos = 180_000  // 0.00018 for 3,000 tokens: 0.06 per million
        traffic.currency = "USD"
        traffic.minutesWithTraffic = 4
        traffic.minutesAnswered = 3
        #expect(traffic.costPerMillionTokensNanos == 60_000_000)
        #expect(traffic.errorRate == 0.1)
        #expect(traffic.availability == 0.75)
        #expect(DeploymentTraffic().availability == nil)
        #expect(DeploymentTraffic().costPerMillionTokensNanos == nil)
        var huge = DeploymentTraffic()
        huge.tokens = 1
        huge.costNanos = .max
        huge.currency = "USD"
        #expect(huge.costPerMillionTokensNanos == nil)
    }
}
