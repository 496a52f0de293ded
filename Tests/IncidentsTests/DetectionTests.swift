import Incidents
import SwitchyardCore
import Testing

@Suite struct LatencyHistogramTests {
    /// Percentiles within a bucket's width (a quarter), and counts above a value by whole buckets.
    @Test func quantilesAndCountsAbove() {
        var histogram = LatencyHistogram()
        for millis in [10, 10, 10, 10, 10, 10, 10, 10, 10, 2_000] as [Int64] { histogram.add(micros: millis * 1000) }
        let median = try! #require(histogram.quantile(0.5))
        #expect(median >= 0.010 && median < 0.0125)
        let p95 = try! #require(histogram.quantile(0.95))
        #expect(p95 >= 2.0 && p95 < 2.5)
        #expect(histogram.count(above: 0.5) == 1)
        #expect(histogram.count(above: 0.005) == 10)
        #expect(LatencyHistogram().quantile(0.5) == nil)
    }
}

@Suite struct BaselineTests {
    /// The band's middle is the median and its half-width `sensitivity` robust deviations; one
    /// wild value moves neither; a flat history falls back to a tenth of the median or the floor.
    @Test func medianAndMADBand() throws {
        var baseline = Baseline(capacity: 5)
        for value in [10.0, 12, 11, 13, 100] { baseline.add(value) }
        let band = try #require(baseline.band(sensitivity: 2, floor: 0))
        #expect(band.median == 12)
        // MAD = median(|x - 12|) = median(2, 0, 1, 1, 88) = 1; 1.4826 < 1.2 (10 % of 12)? no: 1.4826.
        #expect(abs(band.halfWidth - 2 * 1.4826) < 1e-9)
        var flat = Baseline(capacity: 3)
        for _ in 0..<3 { flat.add(0) }
        #expect(flat.band(sensitivity: 4, floor: 0.01)?.halfWidth == 0.04)
        // Past capacity, the oldest value leaves.
        for value in [50.0, 50, 50, 50, 50] { baseline.add(value) }
        #expect(baseline.band(sensitivity: 1, floor: 0)?.median == 50)
    }
}

@Suite struct AnomalyDetectorTests {
    var settings: DetectionSettings {
        var settings = DetectionSettings()
        settings.minimumHistory = 5
        return settings
    }

    /// Steady windows build the bands; a deployment turned slow reads out of band on its own
    /// series and its route's, one more window each time; the slow values are not learned, so it
    /// stays out; back to normal, it reads in band.
    @Test func aSlowDeploymentLeavesItsBandAndComesBack() {
        var detector = AnomalyDetector(settings: settings)
        for _ in 0..<8 { _ = detector.observe(Traffic.steady().cells) }
        for window in 1...4 {
            let readings = detector.observe(Traffic.steady(slow: "gpt-eu").cells)
            guard
                case .outOfBand(let windows, let expected, let observed) = readings[SeriesKey(.deployment, "gpt-eu")]?[
                    .latencyP95]
            else {
                Issue.record("window \(window): \(String(describing: readings[SeriesKey(.deployment, "gpt-eu")]?[.latencyP95]))")
                return
            }
            #expect(windows == window)
            #expect(expected < 0.2 && observed >= 3)
            guard case .outOfBand = readings[SeriesKey(.route, "chat")]?[.latencyP95] else {
                Issue.record("the route's p95 should deviate too")
                return
            }
            #expect(readings[SeriesKey(.deployment, "claude")]?[.latencyP95] == .inBand(windows: 8 + window))
        }
        let back = detector.observe(Traffic.steady().cells)
        #expect(back[SeriesKey(.deployment, "gpt-eu")]?[.latencyP95] == .inBand(windows: 1))
        // Too few requests for a percentile: unknown.
        var sparse = Traffic()
        sparse.add(3, deployment: "gpt-eu")
        #expect(detector.observe(sparse.cells)[SeriesKey(.deployment, "gpt-eu")]?[.latencyP95] == .unknown)
    }
}

@Suite struct AttributionTests {
    /// The issue's example: 94 % of the route's slow requests went to gpt-eu, which carries 41 %
    /// of its traffic: the deviation is on gpt-eu, and the cause says so.
    @Test func theDeviationConcentratesOnOneDeployment() throws {
        var example = Traffic()
        // gpt-eu: 41 requests, 32 slow (94 % of 34 slow); the other 59 requests, 2 slow.
        example.add(32, deployment: "gpt-eu", latencyMillis: 3_000)
        example.add(9, deployment: "gpt-eu", latencyMillis: 100)
        example.add(2, deployment: "gpt-us", latencyMillis: 3_000)
        example.add(57, deployment: "gpt-us", latencyMillis: 100)
        let located = try #require(
            Attribution.locate(SeriesKey(.route, "chat"), metric: .latencyP95, expected: 0.8, cells: example.cells))
        #expect(located.key == SeriesKey(.deployment, "gpt-eu"))
        #expect(abs(located.deviationShare - 32.0 / 34) < 1e-9 && abs(located.trafficShare - 0.41) < 1e-9)
        // Spread evenly: nowhere in particular.
        var broad = Traffic()
        broad.add(20, deployment: "gpt-eu", latencyMillis: 3_000)
        broad.add(20, deployment: "gpt-us", latencyMillis: 3_000)
        #expect(Attribution.locate(SeriesKey(.route, "chat"), metric: .latencyP95, expected: 0.8, cells: broad.cells) == nil)
    }
}

@Suite struct TrafficKeyTests {
    /// Agents of one name in two tenants are two series: neither's surge is blamed on the other.
    @Test func anAgentIsNamedWithinItsTenant() {
        var traffic = Traffic()
        traffic.add(5, deployment: "gpt-eu", tenant: "acme", agent: "bot")
        traffic.add(7, deployment: "gpt-eu", tenant: "globex", agent: "bot")
        let totals = AnomalyDetector.totals(traffic.cells)
        #expect(totals[SeriesKey(.agent, "acme/bot")]?.requests == 5)
        #expect(totals[SeriesKey(.agent, "globex/bot")]?.requests == 7)
        #expect(totals[SeriesKey(.agent, "bot")] == nil)
    }
}

@Suite struct ThroughputAndErrorClassTests {
    /// Streams of 50 tokens after a 100 ms first token: 50 tokens/s, then 25 on one deployment.
    /// The drop is a signal of its own; a rise is not.
    @Test func outputTokensPerSecondDropsAreSignals() {
        var settings = DetectionSettings()
        settings.minimumHistory = 5
        var detector = AnomalyDetector(settings: settings)
        func window(generationMillis: Int64) -> [TrafficKey: TrafficCell] {
            var traffic = Traffic()
            traffic.add(
                20, deployment: "gpt-eu", latencyMillis: 100 + generationMillis, outputTokens: 50, firstTokenMillis: 100)
            return traffic.cells
        }
        for _ in 0..<8 { _ = detector.observe(window(generationMillis: 1_000)) }
        let key = SeriesKey(.deployment, "gpt-eu")
        guard
            case .outOfBand(_, let expected, let observed)? = detector.observe(window(generationMillis: 2_000))[key]?[
                .outputTokensPerSecond]
        else {
            Issue.record("expected the throughput out of band")
            return
        }
        #expect(abs(expected - 50) < 0.01 && abs(observed - 25) < 0.01)
        var faster = AnomalyDetector(settings: settings)
        for _ in 0..<8 { _ = faster.observe(window(generationMillis: 1_000)) }
        guard case .inBand? = faster.observe(window(generationMillis: 500))[key]?[.outputTokensPerSecond] else {
            Issue.record("a faster deployment is no deviation")
            return
        }
    }

    /// Timeouts and overloads are read as their own rates besides the error rate.
    @Test func errorClassesHaveTheirOwnRates() {
        var traffic = Traffic()
        traffic.add(10, deployment: "gpt-eu")
        traffic.add(5, deployment: "gpt-eu", error: .upstreamTimeout)
        traffic.add(5, deployment: "gpt-eu", error: .upstreamOverloaded)
        let cell = traffic.cells.values.first!
        #expect(Metric.timeoutRate.format(Double(cell.timeouts) / Double(cell.requests)) == "25.0 %")
        #expect(cell.errors == 10 && cell.timeouts == 5 && cell.overloads == 5)
    }
}
