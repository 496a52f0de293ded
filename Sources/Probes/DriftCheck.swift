import Foundation

/// A sign that what answers behind a deployment's name is no longer what it was.
public enum DriftSignal: Sendable, Equatable, Codable {
    /// The answers name another model (`model` field).
    case modelChanged(from: String, to: String)
    /// The answers carry another `system_fingerprint`.
    case fingerprintChanged(from: String, to: String)
    /// The quality score fell below its noise band.
    case qualityDropped(expected: Double, observed: Double, floor: Double)
    /// The answers' median length left its band.
    case outputLengthShifted(expected: Double, observed: Double)

    public var summary: String {
        switch self {
        case .modelChanged(let from, let to): "answers name model \(to), not \(from)"
        case .fingerprintChanged(let from, let to): "system_fingerprint \(to), not \(from)"
        case .qualityDropped(let expected, let observed, let floor):
            "canary recall score \(Self.format(observed)) vs \(Self.format(expected)) (noise floor \(Self.format(floor)))"
        case .outputLengthShifted(let expected, let observed):
            "median answer length \(Int(observed.rounded())) tokens vs \(Int(expected.rounded()))"
        }
    }

    static func format(_ value: Double) -> String { String(format: "%.2f", value) }
}

/// Compares a probe round with the deployment's baseline: the earlier rounds of the same
/// declared model that raised no drift themselves (once drift is flagged, the changed behaviour
/// must not become the baseline it is measured against).
///
/// The bands are robust: median ± k·1.4826·MAD of the baseline rounds, widened to a floor so a
/// perfectly steady baseline (MAD 0) does not flag the smallest wobble, and, for the quality
/// score, to the round's own sampling error (a recall over a handful of facts is noisy).
public struct DriftCheck: Sendable {
    public struct Settings: Sendable, Equatable {
        /// Baseline rounds needed before quality and length are judged (identity is judged from one).
        public var minimumBaseline = 3
        /// Band half-width in robust standard deviations.
        public var sensitivity = 4.0
        /// The smallest fall of the quality score that counts.
        public var qualityDrop = 0.2
        /// The smallest relative change of the median answer length that counts.
        public var lengthShare = 0.5

        public init() {}
    }

    public var settings: Settings

    public init(settings: Settings = Settings()) {
        self.settings = settings
    }

    /// `baseline`: earlier rounds, oldest first.
    public func signals(_ round: ProbeRound, baseline: [ProbeRound]) -> [DriftSignal] {
        let baseline = baseline.filter { $0.drift.isEmpty && $0.declaredModel == round.declaredModel }
        var signals: [DriftSignal] = []
        if let now = round.answeringModel, let before = baseline.last(where: { $0.answeringModel != nil })?.answeringModel,
            now != before
        {
            signals.append(.modelChanged(from: before, to: now))
        }
        if let now = round.fingerprint, let before = baseline.last(where: { $0.fingerprint != nil })?.fingerprint,
            now != before
        {
            signals.append(.fingerprintChanged(from: before, to: now))
        }
        let scores = baseline.compactMap(\.curve.score)
        if scores.count >= settings.minimumBaseline, let observed = round.curve.score {
            let (median, spread) = Self.medianAndSpread(scores)
            let planted = round.curve.byLength.reduce(0) { $0 + $1.planted }
            let floor = median - max(settings.sensitivity * spread, settings.qualityDrop, Self.samplingError(median, planted))
            if observed < floor { signals.append(.qualityDropped(expected: median, observed: observed, floor: floor)) }
        }
        let lengths = baseline.compactMap(\.medianOutputTokens)
        if lengths.count >= settings.minimumBaseline, let observed = round.medianOutputTokens {
            let (median, spread) = Self.medianAndSpread(lengths)
            // At least one token either way, so a baseline of empty answers still has a band.
            let band = max(settings.sensitivity * spread, settings.lengthShare * median, 1)
            if abs(observed - median) > band { signals.append(.outputLengthShifted(expected: median, observed: observed)) }
        }
        return signals
    }

    /// Three standard errors of a recall measured over `planted` facts when the true recall is
    /// `recall` (Laplace-smoothed, so a perfect baseline still has some): a round of three facts
    /// cannot tell a drop from chance, one of thirty can.
    static func samplingError(_ recall: Double, _ planted: Int) -> Double {
        let count = Double(max(1, planted))
        let smoothed = (recall * count + 1) / (count + 2)
        return 3 * (smoothed * (1 - smoothed) / count).squareRoot()
    }

    /// The median and the robust standard deviation (1.4826 × the median absolute deviation).
    static func medianAndSpread(_ values: [Double]) -> (Double, Double) {
        let median = Self.median(values)
        return (median, 1.4826 * Self.median(values.map { abs($0 - median) }))
    }

    static func median(_ values: [Double]) -> Double {
        let sorted = values.sorted()
        guard !sorted.isEmpty else { return 0 }
        let middle = sorted.count / 2
        return sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
    }
}
