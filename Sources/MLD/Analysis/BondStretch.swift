import Foundation

/// How hot the O-H stretch is, measured from the velocities along each bond.
///
/// For every H and its nearest O (the assignment of `BondLengths`, frame by frame) the stretch
/// velocity is the relative velocity projected on the bond, ṙ = (v_H - v_O) · r̂ (Å/fs), and the
/// bond's kinetic temperature is T = μ ⟨ṙ²⟩ / k_B with the reduced mass μ = m_O m_H / (m_O + m_H)
/// (one degree of freedom per bond). In equilibrium at temperature T every bond has T_stretch = T.
/// A trajectory that started from rigid molecules (a lattice of ideal waters) and ran for less
/// than a picosecond can hold a much colder stretch than its overall temperature, because the
/// stretch exchanges energy slowly with the other motions.
///
/// The bond-length spread depends on that temperature: for a harmonic bond of force constant k,
/// ⟨δr²⟩ = k_B T_stretch / k. `standardDeviationAt(_:)` rescales the measured O-H standard
/// deviation to a common stretch temperature, std × √(T / T_stretch), which compares the bonds'
/// stiffness (the model's force constant) independently of how much energy the stretch holds.
public struct BondStretch: Sendable {
    /// Frame times, in fs.
    public var times: [Double]
    /// Kinetic temperature of the O-H stretch in each frame, averaged over the bonds, in K.
    public var temperature: [Double]

    /// The stretch temperatures of `trajectory`'s frames, with the bonds of `bonds`.
    public init(_ trajectory: Trajectory, bonds: BondLengths) throws {
        let velocities = try trajectory.requireVelocities()
        guard let a = trajectory.speciesIndex(bonds.assigned), let p = trajectory.speciesIndex(bonds.partner) else {
            throw MLDError.input(file: trajectory.source, line: nil,
                                 problem: "bond stretch analysis needs atoms of \(bonds.assigned) and \(bonds.partner)")
        }
        let ma = trajectory.elements[a].mass, mp = trajectory.elements[p].mass
        let mu = ma * mp / (ma + mp)
        let box = trajectory.box
        times = bonds.times
        temperature = zip(trajectory.positions.indices, bonds.partners).map { frame, partners in
            let r = trajectory.positions[frame], v = velocities[frame]
            var sum = 0.0
            for (j, i) in bonds.atoms.enumerated() {
                let k = partners[j]
                let d = box.displacement(from: r[k], to: r[i])
                let length = (d * d).sum().squareRoot()
                let rate = ((v[i] - v[k]) * d).sum() / length
                sum += rate * rate
            }
            return mu * sum / Double(max(bonds.atoms.count, 1)) * Units.massVelocitySquared / Units.boltzmann
        }
    }

    /// Mean stretch temperature over the frames, in K.
    public var meanTemperature: Double { Statistics.mean(temperature) }

    /// The O-H standard deviation `std` (Å) rescaled from this stretch temperature to
    /// `kelvin`: std × √(kelvin / T_stretch), in Å; nil when the stretch holds no energy.
    public func standardDeviationAt(_ kelvin: Double, measured std: Double) -> Double? {
        let t = meanTemperature
        return t > 0 ? std * (kelvin / t).squareRoot() : nil
    }
}
