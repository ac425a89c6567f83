/// Bond lengths between each atom of one element and its nearest atom of another, frame by
/// frame (O-H bonds in water: each H assigned to its nearest O by minimum image).
///
/// Nothing keeps molecules together in either dynamics, so the assignment is redone in every
/// frame; `reassignedAtoms` counts the atoms whose partner ever changed (proton transfer).
public struct BondLengths: Sendable {
    /// Element whose atoms are assigned ("H").
    public var assigned: String
    /// Element they are assigned to ("O").
    public var partner: String
    /// Frame times, in fs.
    public var times: [Double]
    /// Atom indices (into the whole configuration) of the assigned atoms, in file order.
    public var atoms: [Int]
    /// `lengths[frame][j]`: distance of `atoms[j]` to its nearest partner, in Å.
    public var lengths: [[Double]]
    /// `partners[frame][j]`: atom index of that nearest partner.
    public var partners: [[Int]]

    /// Assigns every atom of `assigned` to its nearest atom of `partner` in every frame.
    public init(_ trajectory: Trajectory, assigned: String = "H", partner: String = "O") throws {
        let a = trajectory.atoms(of: assigned), p = trajectory.atoms(of: partner)
        guard !a.isEmpty, !p.isEmpty else {
            throw MLDError.input(file: trajectory.source, line: nil,
                                 problem: "bond analysis needs atoms of \(assigned) and \(partner)")
        }
        self.assigned = assigned
        self.partner = partner
        times = trajectory.times
        atoms = a
        let box = trajectory.box
        var lengths: [[Double]] = [], partners: [[Int]] = []
        lengths.reserveCapacity(trajectory.frameCount)
        for r in trajectory.positions {
            var l = [Double](repeating: 0, count: a.count), q = [Int](repeating: 0, count: a.count)
            for (j, i) in a.enumerated() {
                var best = Double.infinity, bestIndex = p[0]
                for k in p {
                    let d = box.displacement(from: r[i], to: r[k])
                    let d2 = (d * d).sum()
                    if d2 < best { best = d2; bestIndex = k }
                }
                l[j] = best.squareRoot(); q[j] = bestIndex
            }
            lengths.append(l); partners.append(q)
        }
        self.lengths = lengths
        self.partners = partners
    }

    /// All bond lengths of all frames, in Å.
    public var all: [Double] { lengths.flatMap { $0 } }
    /// Mean bond length over time and atoms, in Å.
    public var mean: Double { Statistics.mean(all) }
    /// Standard deviation over time and atoms, in Å.
    public var standardDeviation: Double { Statistics.standardDeviation(all) }
    /// Shortest bond seen, in Å.
    public var minimum: Double { all.min() ?? 0 }
    /// Longest bond seen, in Å.
    public var maximum: Double { all.max() ?? 0 }
    /// Number of assigned atoms whose nearest partner is not the same in every frame.
    public var reassignedAtoms: Int {
        atoms.indices.filter { j in partners.contains { $0[j] != partners[0][j] } }.count
    }

    /// The bond-length time series of atom `atom` (an index into the whole configuration), in Å.
    public func series(atom: Int) -> [Double]? {
        guard let j = atoms.firstIndex(of: atom) else { return nil }
        return lengths.map { $0[j] }
    }
}
