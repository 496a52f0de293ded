import Foundation

/// Recall by prompt length and by depth, and the quality score they give.
///
/// The score is the area under recall plotted against log₂ of the length, divided by the width
/// of the lengths measured: 1 when every fact is recalled at every length, 0 when none is. A log
/// axis weighs each doubling of the context alike, so a curve of 256…16k tokens is not decided
/// by its longest point alone. A prompt the deployment refused (4xx: longer than it really takes)
/// recalls nothing; other failures (5xx, timeouts) are availability, not recall, and left out.
public struct QualityCurve: Sendable, Equatable {
    public struct Point: Sendable, Equatable {
        public var tokens: Int
        public var recalled: Int
        public var planted: Int
        public var recall: Double { planted == 0 ? 0 : Double(recalled) / Double(planted) }
    }

    public var byLength: [Point]
    public var byDepth: [(depth: Double, recall: Double)]

    public static func == (lhs: QualityCurve, rhs: QualityCurve) -> Bool {
        lhs.byLength == rhs.byLength && lhs.byDepth.elementsEqual(rhs.byDepth) { $0 == $1 }
    }

    public init(_ observations: [ProbeObservation]) {
        var lengths: [Int: Point] = [:]
        var depths: [Double: (recalled: Int, planted: Int)] = [:]
        for observation in observations where observation.error == nil || observation.refused == true {
            var point = lengths[observation.targetTokens] ?? Point(tokens: observation.targetTokens, recalled: 0, planted: 0)
            let recalls = observation.error == nil ? observation.recalled : observation.depths.map { _ in false }
            for (depth, recalled) in zip(observation.depths, recalls) {
                point.planted += 1
                if recalled { point.recalled += 1 }
                depths[depth, default: (0, 0)].planted += 1
                if recalled { depths[depth, default: (0, 0)].recalled += 1 }
            }
            lengths[observation.targetTokens] = point
        }
        byLength = lengths.values.filter { $0.planted > 0 }.sorted { $0.tokens < $1.tokens }
        byDepth = depths.keys.sorted().map { depth in
            let count = depths[depth]!
            return (depth, Double(count.recalled) / Double(count.planted))
        }
    }

    /// nil when nothing was answered.
    public var score: Double? {
        guard let first = byLength.first else { return nil }
        guard byLength.count > 1 else { return first.recall }
        let xs = byLength.map { log2(Double(max(1, $0.tokens))) }
        let width = xs[xs.count - 1] - xs[0]
        guard width > 0 else { return byLength.map(\.recall).reduce(0, +) / Double(byLength.count) }
        var area = 0.0
        for index in 1..<byLength.count {
            area += (xs[index] - xs[index - 1]) * (byLength[index].recall + byLength[index - 1].recall) / 2
        }
        return area / width
    }

}
