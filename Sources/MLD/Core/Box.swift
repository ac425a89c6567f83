import Foundation

/// An orthorhombic periodic box with its corner at the origin.
///
/// The periodic "space" of the simulation: `displacement` gives the minimum-image
/// vector between two points, `wrap` maps a point into [0, L) along each axis.
public struct Box: Hashable, Sendable, Codable, CustomStringConvertible {
    /// Edge lengths in Å.
    public var lengths: SIMD3<Double>

    public init(_ lengths: SIMD3<Double>) { self.lengths = lengths }
    public init(_ a: Double, _ b: Double, _ c: Double) { self.lengths = SIMD3(a, b, c) }
    /// A cubic box of edge `a` in Å.
    public init(cubic a: Double) { self.lengths = SIMD3(repeating: a) }

    /// The longest edge mld accepts, in Å: far beyond any box it can simulate (200 million water
    /// molecules fill a 1,800 Å cube), and a guard against a typo sizing cell grids.
    public static let maximumEdge: Double = 3000

    /// Why these edges cannot be a simulation box (not finite, not positive, at or over
    /// `maximumEdge`), nil when they can.
    public var edgeProblem: String? {
        let v = [lengths.x, lengths.y, lengths.z]
        guard v.allSatisfy({ $0.isFinite && $0 > 0 }) else {
            return "cell edges must be finite positive numbers of Å (got \(description))"
        }
        guard v.allSatisfy({ $0 < Box.maximumEdge }) else {
            return "cell edge \(v.max()!) Å is too large (mld accepts edges under \(Int(Box.maximumEdge)) Å)"
        }
        return nil
    }

    /// Volume in Å³.
    public var volume: Double { lengths.x * lengths.y * lengths.z }
    /// The shortest edge in Å.
    public var shortestEdge: Double { min(lengths.x, min(lengths.y, lengths.z)) }

    /// Minimum-image displacement `b - a` in Å, each component in [-L/2, L/2].
    @inline(__always)
    public func displacement(from a: SIMD3<Double>, to b: SIMD3<Double>) -> SIMD3<Double> {
        minimumImage(b - a, lengths: lengths)
    }

    /// The periodic image of `r` inside [0, L) along every axis, in Å.
    @inline(__always)
    public func wrap(_ r: SIMD3<Double>) -> SIMD3<Double> {
        var w = r - lengths * (r / lengths).rounded(.down)
        // Rounding can leave exactly L for tiny negative inputs.
        w.replace(with: SIMD3(repeating: 0), where: w .>= lengths)
        return w
    }

    /// "12.4138 x 12.4138 x 12.4138 Å" (edges to 1e-6 Å).
    public var description: String {
        func f(_ x: Double) -> String {
            var s = String(format: "%.6f", x)
            while s.hasSuffix("0") { s.removeLast() }
            if s.hasSuffix(".") { s.removeLast() }
            return s
        }
        return "\(f(lengths.x)) x \(f(lengths.y)) x \(f(lengths.z)) Å"
    }
}

/// The minimum image of a difference vector `d = b - a` (Å) in a box of edges `lengths` (Å):
/// `d - L round(d / L)`, ties to even, each component in [-L/2, L/2]. The one minimum-image
/// function of mld (the fit, the CPU backend, the analysis and `Box.displacement` use it).
/// Adding and subtracting 1.5 * 2^52 rounds to the nearest integer, ties to even, for
/// |d/L| < 2^51, without the libm `rint` calls that `rounded(.toNearestOrEven)` compiles to on
/// baseline x86-64.
@inline(__always)
public func minimumImage(_ d: SIMD3<Double>, lengths: SIMD3<Double>) -> SIMD3<Double> {
    let magic = SIMD3<Double>(repeating: 6_755_399_441_055_744.0)
    let n = (d / lengths + magic) - magic
    return d - lengths * n
}

/// `minimumImage` in the first three lanes of a SIMD4 (Å; the fourth lane is carried along and
/// means nothing), for loops that keep displacements in four-lane registers, with the reciprocal
/// box lengths (1/Å) precomputed: a product instead of a division per component. The image shift
/// n is the same integer except where d / L lies within rounding of a half-integer, where both
/// images are half a box away.
@inline(__always)
func minimumImage(_ d: SIMD4<Double>, lengths: SIMD4<Double>, inverseLengths: SIMD4<Double>) -> SIMD4<Double> {
    let magic = SIMD4<Double>(repeating: 6_755_399_441_055_744.0)
    let n = (d * inverseLengths + magic) - magic
    return d - lengths * n
}

/// The four-lane minimum-image displacement from q to p (`minimumImage`, Å in the first three
/// lanes) and its square in Å², summed x + y + z: the order of SIMD3's `sum()`, so the same bits
/// as the three-lane form.
@inline(__always)
func separation(_ p: SIMD4<Double>, from q: SIMD4<Double>, lengths: SIMD4<Double>,
                inverseLengths: SIMD4<Double>) -> (d: SIMD4<Double>, r2: Double) {
    let d = minimumImage(p - q, lengths: lengths, inverseLengths: inverseLengths)
    let sq = d * d
    return (d, sq.x + sq.y + sq.z)
}

/// Box edges (Å) and their reciprocals (1/Å) in four lanes for `separation`, the fourth lane a
/// copy of the first. With a fourth lane the compiler knows (a constant 1), it treats that lane
/// apart in every vector operation of a separation: 28 instructions a separation in the
/// gather of the angular sums against 22 with a run-time value (callgrind). The fourth lane of a
/// separation means nothing either way.
@inline(__always)
func lanes4(lengths: SIMD3<Double>) -> (lengths: SIMD4<Double>, inverse: SIMD4<Double>) {
    let l = SIMD4(lengths, lengths.x)
    return (l, 1 / l)
}

/// Element `i` of a buffer of SIMD3<Double> as a SIMD4 (a SIMD3 of doubles occupies 32 bytes; the
/// fourth lane is its padding and means nothing).
@inline(__always)
func lanes4(_ p: UnsafePointer<SIMD3<Double>>, _ i: Int) -> SIMD4<Double> {
    UnsafeRawPointer(p + i).loadUnaligned(as: SIMD4<Double>.self)
}

/// The first three lanes of `v` into element `i` of a buffer of SIMD3<Double> (the fourth lane
/// lands in its padding).
@inline(__always)
func storeLanes4(_ v: SIMD4<Double>, _ p: UnsafeMutablePointer<SIMD3<Double>>, _ i: Int) {
    UnsafeMutableRawPointer(p + i).storeBytes(of: v, as: SIMD4<Double>.self)
}
