import Foundation

/// The angle at each atom of a central element between its two nearest atoms of another
/// element, frame by frame: the H-O-H angle of each water molecule (O with its two nearest H,
/// minimum image).
public struct BondAngles: Sendable {
    /// Central element ("O").
    public var center: String
    /// Element of the two arms ("H").
    public var arm: String
    /// Atom indices of the central atoms.
    public var atoms: [Int]
    /// `angles[frame][j]`: the angle at `atoms[j]`, in degrees.
    public var angles: [[Double]]

    public init(_ trajectory: Trajectory, center: String = "O", arm: String = "H") throws {
        let c = trajectory.atoms(of: center), h = trajectory.atoms(of: arm)
        guard !c.isEmpty, h.count >= 2 else {
            throw MLDError.input(file: trajectory.source, line: nil,
                                 problem: "angle analysis needs atoms of \(center) and at least two of \(arm)")
        }
        self.center = center
        self.arm = arm
        atoms = c
        let box = trajectory.box
        angles = trajectory.positions.map { r in
            c.map { i in
                // The two nearest arm atoms.
                var d1 = SIMD3<Double>(), d2 = SIMD3<Double>()
                var r1 = Double.infinity, r2 = Double.infinity
                for k in h where k != i {
                    let d = box.displacement(from: r[i], to: r[k])
                    let s = (d * d).sum()
                    if s < r1 { r2 = r1; d2 = d1; r1 = s; d1 = d }
                    else if s < r2 { r2 = s; d2 = d }
                }
                let cosine = (d1 * d2).sum() / (r1 * r2).squareRoot()
                return acos(min(1, max(-1, cosine))) * 180 / Double.pi
            }
        }
    }

    /// All angles of all frames, in degrees.
    public var all: [Double] { angles.flatMap { $0 } }
    /// Mean angle over time and molecules, in degrees.
    public var mean: Double { Statistics.mean(all) }
    /// Standard deviation over time and molecules, in degrees.
    public var standardDeviation: Double { Statistics.standardDeviation(all) }

    /// Normalised histogram (probability density, 1/degree) over [lower, upper) degrees.
    public func distribution(binWidth: Double = 1, lower: Double = 60, upper: Double = 150) -> Histogram {
        Histogram(all, lower: lower, upper: upper, binWidth: binWidth)
    }
}
