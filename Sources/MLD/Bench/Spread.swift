/// Median, minimum and maximum of repeated measurements.
public struct Spread: Codable, Sendable, Equatable {
    public var median: Double
    public var min: Double
    public var max: Double

    public init(median: Double, min: Double, max: Double) {
        self.median = median; self.min = min; self.max = max
    }

    /// The spread of `samples` (the median of an even count is the mean of the middle two).
    public init(_ samples: [Double]) {
        precondition(!samples.isEmpty, "a spread needs at least one sample")
        let s = samples.sorted()
        median = (s[(s.count - 1) / 2] + s[s.count / 2]) / 2
        min = s.first!
        max = s.last!
    }

    /// Every value multiplied by `factor` (min and max swap for a negative factor).
    public func scaled(_ factor: Double) -> Spread {
        factor >= 0 ? Spread(median: median * factor, min: min * factor, max: max * factor)
            : Spread(median: median * factor, min: max * factor, max: min * factor)
    }

    /// The reciprocals (min and max swap): turns seconds per step into steps per second.
    public var reciprocal: Spread { Spread(median: 1 / median, min: 1 / max, max: 1 / min) }
}
