import CoreMetrics

// One swift-metrics handle over two backends' series: the exposition's and the push's. Only
// made when metrics are pushed (but for counters); otherwise the exposition's series is the handle.

/// A counter in the exposition and, when pushed, in the push. Always this type, pushed or not:
/// both backends stop the process on a negative amount (a provider's usage of -5 tokens), so such
/// an amount is dropped here.
final class CounterSeries: CounterHandler, Sendable {
    private let exposed: any CounterHandler
    private let pushed: (any CounterHandler)?

    init(_ exposed: any CounterHandler, pushed: (any CounterHandler)?) {
        self.exposed = exposed
        self.pushed = pushed
    }

    func increment(by amount: Int64) {
        guard amount > 0 else { return }
        exposed.increment(by: amount)
        pushed?.increment(by: amount)
    }

    func reset() {
        exposed.reset()
        pushed?.reset()
    }
}

final class FannedGauge: MeterHandler, RecorderHandler, Sendable {
    private let first: any MeterHandler & RecorderHandler
    private let second: any MeterHandler

    init(_ first: any MeterHandler & RecorderHandler, _ second: any MeterHandler) {
        self.first = first
        self.second = second
    }

    func set(_ value: Int64) {
        first.set(value)
        second.set(value)
    }

    func set(_ value: Double) {
        first.set(value)
        second.set(value)
    }

    func increment(by amount: Double) {
        first.increment(by: amount)
        second.increment(by: amount)
    }

    func decrement(by amount: Double) {
        first.decrement(by: amount)
        second.decrement(by: amount)
    }

    // A recorder that does not aggregate: the gauge's value.
    func record(_ value: Int64) { set(value) }
    func record(_ value: Double) { set(value) }
}

final class FannedRecorder: RecorderHandler, Sendable {
    private let first: any RecorderHandler
    private let second: any RecorderHandler

    init(_ first: any RecorderHandler, _ second: any RecorderHandler) {
        self.first = first
        self.second = second
    }

    func record(_ value: Int64) {
        first.record(value)
        second.record(value)
    }

    func record(_ value: Double) {
        first.record(value)
        second.record(value)
    }
}

final class FannedTimer: TimerHandler, Sendable {
    private let first: any TimerHandler
    private let second: any TimerHandler

    init(_ first: any TimerHandler, _ second: any TimerHandler) {
        self.first = first
        self.second = second
    }

    func recordNanoseconds(_ duration: Int64) {
        first.recordNanoseconds(duration)
        // swift-otel traps on a negative duration when it exports it.
        second.recordNanoseconds(max(0, duration))
    }
}
