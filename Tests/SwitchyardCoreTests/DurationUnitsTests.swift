import SwitchyardCore
import Testing

@Suite struct DurationUnitsTests {
    /// Whole units toward zero; nanoseconds saturate instead of trapping past Int64's range.
    @Test func wholeUnitsTowardZeroAndNanosecondsSaturate() {
        let duration = Duration.seconds(2) + .nanoseconds(1_999_999)
        #expect(duration.nanoseconds == 2_001_999_999)
        #expect(duration.microseconds == 2_001_999)
        #expect(duration.milliseconds == 2001)
        #expect(Duration.nanoseconds(-1500).nanoseconds == -1500)
        #expect(Duration.seconds(Int64.max / 2).nanoseconds == .max)
        #expect(Duration.seconds(Int64.min / 2).nanoseconds == .min)
    }
}
