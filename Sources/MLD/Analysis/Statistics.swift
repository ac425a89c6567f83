/// Small statistics helpers shared by the observables.
public enum Statistics {
    /// Arithmetic mean (0 for an empty array).
    public static func mean(_ x: [Double]) -> Double {
        x.isEmpty ? 0 : x.reduce(0, +) / Double(x.count)
    }

    /// Population standard deviation, sqrt(Σ (x - mean)² / n).
    public static func standardDeviation(_ x: [Double]) -> Double {
        guard x.count > 1 else { return 0 }
        let m = mean(x)
        return (x.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Double(x.count)).squareRoot()
    }

    /// Least-squares line y = a + b x through the points; returns (intercept a, slope b).
    public static func linearFit(x: [Double], y: [Double]) -> (intercept: Double, slope: Double) {
        let mx = mean(x), my = mean(y)
        var sxy = 0.0, sxx = 0.0
        for i in x.indices { sxy += (x[i] - mx) * (y[i] - my); sxx += (x[i] - mx) * (x[i] - mx) }
        let b = sxx > 0 ? sxy / sxx : 0
        return (my - b * mx, b)
    }
}

/// A histogram normalised to a probability density: Σ density × binWidth = fraction of the
/// values inside [lower, upper).
public struct Histogram: Sendable {
    /// Bin centres.
    public var centers: [Double]
    /// Probability density per bin (per unit of the value).
    public var density: [Double]
    /// Bin width.
    public var binWidth: Double

    public init(_ values: [Double], lower: Double, upper: Double, binWidth: Double) {
        let n = max(1, Int(((upper - lower) / binWidth).rounded()))
        self.binWidth = binWidth
        centers = (0..<n).map { lower + (Double($0) + 0.5) * binWidth }
        var counts = [Double](repeating: 0, count: n)
        for v in values {
            let b = Int(((v - lower) / binWidth).rounded(.down))
            if b >= 0 && b < n { counts[b] += 1 }
        }
        let total = Double(max(values.count, 1))
        density = counts.map { $0 / (total * binWidth) }
    }
}
