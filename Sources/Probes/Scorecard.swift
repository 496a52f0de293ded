import SwitchyardCore

/// One row of the scorecard: a provider's model, over the deployments that serve it.
public struct ScorecardRow: Sendable, Equatable {
    public var provider: String
    public var model: String
    public var deployments: [String]
    /// The latest probe round's quality score (the mean over the deployments probed).
    public var quality: Double?
    /// Recall by length and by depth over the latest rounds.
    public var curve: QualityCurve
    public var probedAt: UnixMicros?
    /// Drift the latest round raised.
    public var drift: [DriftSignal]
    public var day: DeploymentTraffic
    public var week: DeploymentTraffic

    public init(
        provider: String, model: String, deployments: [String], latest: [ProbeRound], day: DeploymentTraffic,
        week: DeploymentTraffic
    ) {
        self.provider = provider
        self.model = model
        self.deployments = deployments
        let scores = latest.compactMap(\.curve.score)
        self.quality = scores.isEmpty ? nil : scores.reduce(0, +) / Double(scores.count)
        self.curve = QualityCurve(latest.flatMap(\.observations))
        self.probedAt = latest.map(\.startedAt).max()
        self.drift = latest.flatMap(\.drift)
        self.day = day
        self.week = week
    }
}
