import Observability
import Testing

@Suite struct MetricsRegistryTests {
    /// Counters add per label set; histogram buckets are cumulative and every observation lands
    /// once (the histogram is updated in place, not copied out and back).
    @Test func countersAndHistogramsRenderWhatWasRecorded() {
        let metrics = MetricsRegistry()
        for _ in 0..<3 { metrics.series("jobs_total", help: "Jobs.", kind: .counter, labels: [("kind", "a")]).add() }
        metrics.series("jobs_total", help: "Jobs.", kind: .counter, labels: [("kind", "b")]).add(5)
        let wait = metrics.series("wait_seconds", help: "Waits.", kind: .histogram, labels: [("queue", "q")])
        for seconds in [0.003, 0.02, 0.02, 200] { wait.record(seconds) }
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
    /// A resolved series is the one its name and labels find: resolving again gives the same
    /// series, updates through either land once, and other labels are another series.
    @Test func resolvingAgainFindsTheSameSeries() {
        let registry = MetricsRegistry()
        let requests = registry.series("requests_total", help: "Requests.", kind: .counter, labels: [("route", "r")])
        let again = registry.series("requests_total", help: "Requests.", kind: .counter, labels: [("route", "r")])
        let other = registry.series("requests_total", help: "Requests.", kind: .counter, labels: [("route", "s")])
        #expect(again == requests && other != requests)
        for _ in 0..<3 {
            requests.add(2)
            again.add(1)
        }
        let lines = registry.render().split(separator: "\n").map(String.init)
        #expect(lines.contains(#"requests_total{route="r"} 9"#))
        #expect(lines.contains(#"requests_total{route="s"} 0"#))
    }

    /// A name keeps its first kind: asking for it as another kind gives the existing family's
    /// series, and an update of the wrong kind is dropped instead of touching other storage.
    @Test func aNameKeepsItsKind() {
        let metrics = MetricsRegistry()
        metrics.series("jobs_total", help: "Jobs.", kind: .counter).add()
        let asHistogram = metrics.series("jobs_total", help: "Jobs.", kind: .histogram)
        asHistogram.record(1)
        asHistogram.add(4)
        let lines = metrics.render().split(separator: "\n").map(String.init)
        #expect(lines.contains("jobs_total 5"))
        #expect(lines.contains("# TYPE jobs_total counter"))
    }
}
