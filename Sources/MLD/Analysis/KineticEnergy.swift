/// Kinetic energy and temperature of every frame, from the velocities.
///
/// K = 1/2 Σ_i m_i |v_i|² (u·Å²/fs² × `Units.massVelocitySquared` = eV) and
/// T = 2K / (f k_B) with f = 3N - 3 degrees of freedom (the centre-of-mass momentum is
/// not thermal), which is what CP2K's `.ener` temperature uses.
public struct KineticEnergySeries: Sendable {
    /// Frame times, in fs.
    public var times: [Double]
    /// Kinetic energy per frame, in eV.
    public var kinetic: [Double]
    /// Temperature per frame, in K.
    public var temperature: [Double]
    /// Degrees of freedom used for the temperature (3N - 3).
    public var degreesOfFreedom: Int

    public init(_ trajectory: Trajectory) throws {
        let velocities = try trajectory.requireVelocities()
        let masses = trajectory.masses
        degreesOfFreedom = max(3 * trajectory.atomCount - 3, 1)
        times = trajectory.times
        kinetic = velocities.map { v in
            var s = 0.0
            for i in v.indices { s += masses[i] * (v[i] * v[i]).sum() }
            return 0.5 * s * Units.massVelocitySquared
        }
        let f = Double(degreesOfFreedom)
        temperature = kinetic.map { 2 * $0 / (f * Units.boltzmann) }
    }

    /// Mean kinetic energy over the frames, in eV.
    public var meanKinetic: Double { Statistics.mean(kinetic) }
    /// Mean temperature over the frames, in K.
    public var meanTemperature: Double { Statistics.mean(temperature) }
    /// Standard deviation of the temperature over the frames, in K.
    public var temperatureStd: Double { Statistics.standardDeviation(temperature) }
}
