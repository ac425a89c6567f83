import Foundation

/// What `mld box` built: counts, box, density and temperature of a configuration.
public struct BoxSummary: Codable, Sendable {
    /// Where the atoms came from ("water lattice", or the file or directory replicated).
    public var source: String
    /// Replication counts, `AxBxC`.
    public var replicate: String
    public var atoms: Int
    /// Number of oxygen atoms (water molecules for a water box).
    public var molecules: Int
    /// Box edges in Å.
    public var box: [Double]
    /// Mass density in g/cm³.
    public var density: Double
    /// Kinetic temperature in K with 3N-3 degrees of freedom (nil without velocities).
    public var temperature: Double?
    /// Seconds spent building the configuration.
    public var buildSeconds: Double
    /// Seconds spent writing the file.
    public var writeSeconds: Double
    /// The file written.
    public var output: String

    public init(_ c: Configuration, source: String, replicate: String, buildSeconds: Double,
                writeSeconds: Double, output: String) {
        self.source = source
        self.replicate = replicate
        atoms = c.count
        let oxygen = c.elements.firstIndex { $0.symbol == "O" }
        molecules = oxygen.map { o in c.species.reduce(0) { $0 + ($1 == o ? 1 : 0) } } ?? 0
        box = [c.box.lengths.x, c.box.lengths.y, c.box.lengths.z]
        density = BoxSummary.density(of: c)
        temperature = BoxSummary.temperature(of: c)
        self.buildSeconds = buildSeconds
        self.writeSeconds = writeSeconds
        self.output = output
    }

    /// Mass density in g/cm³: total mass (u) over box volume (Å³), 1 u = 1/N_A g, 1 cm³ = 1e24 Å³.
    public static func density(of c: Configuration) -> Double {
        let m = c.elements.map(\.mass)
        var total = 0.0
        for s in c.species { total += m[s] }
        return total / Units.avogadro * 1e24 / c.box.volume
    }

    /// Kinetic temperature in K, `2 KE / ((3N - 3) k_B)`, or nil without velocities.
    public static func temperature(of c: Configuration) -> Double? {
        guard let v = c.velocities, c.count > 1 else { return nil }
        let m = c.elements.map(\.mass)
        var twiceKinetic = 0.0
        for i in 0..<c.count { twiceKinetic += m[c.species[i]] * (v[i] * v[i]).sum() }
        return twiceKinetic * Units.massVelocitySquared / (Double(3 * c.count - 3) * Units.boltzmann)
    }
}
