import SwitchyardCore

/// One probe prompt sent to a deployment, and what came back.
public struct ProbeObservation: Sendable, Equatable, Codable {
    /// The length the prompt was generated for (the curve's x axis).
    public var targetTokens: Int
    /// The prompt's tokens as the provider counted them (0 when it did not answer).
    public var promptTokens: Int
    public var outputTokens: Int
    /// The planted facts' depths, and which of them the answer recalled (empty when it failed).
    public var depths: [Double]
    public var recalled: [Bool]
    public var latencyMicros: Int64
    public var costNanos: Int64
    /// The `model` and `system_fingerprint` the answer named.
    public var model: String?
    public var fingerprint: String?
    /// Why there is no answer to grade (an upstream error).
    public var error: String?
    /// The deployment refused the prompt (a 4xx: too long for it, rejected): its facts count as
    /// not recalled. Other failures say nothing about recall.
    public var refused: Bool?
    /// The facts planted and the answer's first 1,000 characters, kept so anyone can re-grade a
    /// round (probe texts are synthetic: nothing here is a customer's).
    public var facts: [CanaryFact]
    public var answer: String?

    public init(
        targetTokens: Int, promptTokens: Int, outputTokens: Int, depths: [Double], recalled: [Bool],
        latencyMicros: Int64, costNanos: Int64, model: String?, fingerprint: String?, error: String? = nil,
        refused: Bool = false, facts: [CanaryFact] = [], answer: String? = nil
    ) {
        self.targetTokens = targetTokens
        self.promptTokens = promptTokens
        self.outputTokens = outputTokens
        self.depths = depths
        self.recalled = recalled
        self.latencyMicros = latencyMicros
        self.costNanos = costNanos
        self.model = model
        self.fingerprint = fingerprint
        self.error = error
        self.refused = refused ? true : nil
        self.facts = facts
        self.answer = answer.map { String($0.prefix(1000)) }
    }
}

/// A deployment's probes of one schedule slot: a prompt (or several) per length.
public struct ProbeRound: Sendable, Equatable, Codable {
    public var deployment: String
    /// The model the configuration declares for the deployment: a round is compared only with
    /// rounds of the same declaration.
    public var declaredModel: String
    public var startedAt: UnixMicros
    public var currency: String
    public var observations: [ProbeObservation]
    /// Drift signals this round raised against the baseline (such rounds stay out of it).
    public var drift: [DriftSignal]

    public init(
        deployment: String, declaredModel: String, startedAt: UnixMicros, currency: String,
        observations: [ProbeObservation] = [], drift: [DriftSignal] = []
    ) {
        self.deployment = deployment
        self.declaredModel = declaredModel
        self.startedAt = startedAt
        self.currency = currency
        self.observations = observations
        self.drift = drift
    }

    public var curve: QualityCurve { QualityCurve(observations) }
    public var answered: [ProbeObservation] { observations.filter { $0.error == nil } }
    /// What the answers cost (saturating: a provider's absurd token counts cannot trap).
    public var costNanos: Int64 { observations.reduce(0) { $0.addingClamped($1.costNanos) } }

    /// The model most answers named (ties: the first named), nil when none named one.
    public var answeringModel: String? { Self.mostCommon(answered.compactMap(\.model)) }
    public var fingerprint: String? { Self.mostCommon(answered.compactMap(\.fingerprint)) }

    /// The median output length of the answers (nil without answers).
    public var medianOutputTokens: Double? {
        let lengths = answered.map { Double($0.outputTokens) }
        return lengths.isEmpty ? nil : DriftCheck.median(lengths)
    }

    /// The value given most often; a tie goes to the one given first.
    static func mostCommon(_ values: [String]) -> String? {
        var counts: [String: Int] = [:]
        for value in values { counts[value, default: 0] += 1 }
        guard let most = counts.values.max() else { return nil }
        return values.first { counts[$0] == most }
    }
}
