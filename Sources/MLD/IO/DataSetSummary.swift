import Foundation

/// What a CP2K data set holds, as `mld info` prints it.
public struct DataSetSummary: Codable, Sendable {
    public struct SpeciesSummary: Codable, Sendable {
        public var element: String
        public var count: Int
        /// Mean force magnitude over all frames, in eV/Å.
        public var meanForce: Double?
    }
    public var directory: String
    public var project: String
    public var atoms: Int
    public var species: [SpeciesSummary]
    public var frames: Int
    public var firstStep: Int
    public var lastStep: Int
    /// MD time step in fs.
    public var timeStep: Double?
    /// Cell edges in Å.
    public var cell: [Double]
    public var cellSource: String
    /// Mean temperature in K.
    public var meanTemperature: Double?
    public var temperatureSource: String
    /// Median wall time per MD step recorded by CP2K, in s.
    public var medianSecondsPerStep: Double?
    public var hasForces: Bool
    public var hasVelocities: Bool

    public init(_ run: CP2KRun) {
        directory = run.directory
        project = run.project
        atoms = run.atomCount
        let counts = run.frames[0].speciesCounts
        var sums = [Double](repeating: 0, count: counts.count)
        if run.hasForces {
            for f in run.frames {
                for (i, s) in f.species.enumerated() { sums[s] += (f.forces![i] * f.forces![i]).sum().squareRoot() }
            }
        }
        species = run.elements.enumerated().map { s, e in
            SpeciesSummary(element: e.symbol, count: counts[s],
                           meanForce: run.hasForces ? sums[s] / Double(counts[s] * run.frames.count) : nil)
        }
        frames = run.frames.count
        firstStep = run.steps.first ?? 0
        lastStep = run.steps.last ?? 0
        timeStep = run.timeStep
        cell = [run.box.lengths.x, run.box.lengths.y, run.box.lengths.z]
        cellSource = run.cellSource
        let steps = Set(run.steps)
        let recs = run.energies.filter { steps.contains($0.step) }
        if !recs.isEmpty {
            meanTemperature = recs.map(\.temperature).reduce(0, +) / Double(recs.count)
            temperatureSource = "CP2K .ener file"
        } else if run.hasVelocities {
            let m = run.frames[0].masses
            let dof = Double(3 * run.atomCount - 3)
            var t = 0.0
            for f in run.frames {
                var ke = 0.0
                for i in 0..<m.count { ke += 0.5 * m[i] * (f.velocities![i] * f.velocities![i]).sum() }
                t += 2 * ke * Units.massVelocitySquared / (dof * Units.boltzmann)
            }
            meanTemperature = t / Double(run.frames.count)
            temperatureSource = "velocities, 3N-3 degrees of freedom"
        } else {
            meanTemperature = nil
            temperatureSource = "none"
        }
        let used = run.energies.filter { $0.step > 0 }.map(\.usedTime).sorted()
        medianSecondsPerStep = used.isEmpty ? nil : (used[(used.count - 1) / 2] + used[used.count / 2]) / 2
        hasForces = run.hasForces
        hasVelocities = run.hasVelocities
    }
}
