import Observability
import Testing

@Suite struct MetricsRegistryTests {
    /// Counters add per label set; histogram buckets are cumulative and every observation lands
    /// once (the histogram is updated in place, not copied out and back).
    @Test func countersAndHistogramsRenderWhatWasRecorded() {
        let metrics = MetricsRegistry()
        for _ in 0..<3 { metrics.increment("jobs_total", help: "Jobs.", labels: [("kind", "a")]) }
        metrics.increment("jobs_total", help: "Jobs.", labels: [("kind", "b")], by: 5)
        for seconds in [0.003, 0.02, 0.02, 200] {
            metrics.observe("wait_seconds", help: "Waits.", labels: [("queue", "q")], seconds: seconds)
        }
        let lines = Set(metrics.render().split(separator: "\n").map(String.init))
        for expected in [
            "# TYPE jobs_total counter", #"jobs_total{kind="a"} 3"#, #"jobs_total{kind="b"} 5"#,
            "# TYPE wait_seconds histogram", #"wait_seconds_bucket{queue="q",le="0.005"} 1"#,
            #"wait_seconds_bucket{queue="q",le="0.01"} 1"#, #"wait_seconds_bucket{queue="q",le="0.025"} 3"#,
            #"wait_seconds_bucket{queue="q",le="120.0"} 3"#, #"wait_seconds_bucket{queue="q",le="+Inf"} 4"#,
            #"wait_seconds_count{queue="q"} 4"#,
        ] {
            #expect(lines.contains(expected), "\(expected)")
        }
    }

    /// Gauges hold fractions; whole values read as integers, as the integer gauges always did,
    /// and the special values in the exposition's words.
    @Test func gaugesRenderWholeAndFractionalValues() {
        let metrics = MetricsRegistry()
        metrics.set("open", help: "Open.", to: 7)
        metrics.series("ratio", help: "Ratio.", kind: .gauge).set(0.25)
        metrics.series("broken", help: "Broken.", kind: .gauge).set(Double.infinity)
        let lines = Set(metrics.render().split(separator: "\n").map(String.init))
        #expect(lines.contains("open 7"))
        #expect(lines.contains("ratio 0.25"))
        #expect(lines.contains("broken +Inf"))
    }
}

@Suite struct MetricsSeriesTests {
    /// A resolved series is the one its name and labels find: updates through it render like
    /// updates by name, and resolving again changes nothing.
    @Test func seriesUpdateLikeNamedUpdates() {
        let named = MetricsRegistry()
        let resolved = MetricsRegistry()
        let requests = resolved.series("requests_total", help: "Requests.", kind: .counter, labels: [("route", "r")])
        let latency = resolved.series("latency_seconds", help: "Latency.", kind: .histogram, labels: [("route", "r")])
        #expect(resolved.series("requests_total", help: "Requests.", kind: .counter, labels: [("route", "r")]) == requests)
        for _ in 0..<3 {
            named.increment("requests_total", help: "Requests.", labels: [("route", "r")], by: 2)
            named.observe("latency_seconds", help: "Latency.", labels: [("route", "r")], seconds: 0.02)
            requests.add(2)
            latency.observe(0.02)
        }
        #expect(resolved.render() == named.render())
        #expect(resolved.render().contains(#"requests_total{route="r"} 6"#))
    }

    /// A name keeps its first kind: asking for it as another kind gives the existing family's
    /// series, and an update of the wrong kind is dropped instead of touching other storage.
    @Test func aNameKeepsItsKind() {
        let metrics = MetricsRegistry()
        metrics.increment("jobs_total", help: "Jobs.")
        let asHistogram = metrics.series("jobs_total", help: "Jobs.", kind: .histogram)
        asHistogram.observe(1)
        asHistogram.add(4)
        let lines = metrics.render().split(separator: "\n").map(String.init)
        #expect(lines.contains("jobs_total 5"))
        #expect(lines.contains("# TYPE jobs_total counter"))
    }
}
