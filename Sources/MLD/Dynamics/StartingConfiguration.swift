import Foundation

/// Where a run starts: one frame of a CP2K run directory or of an extended-XYZ file.
public enum StartingConfiguration {
    /// Loads frame `frame` (0 the first, -1 the last) of `path`, a CP2K output directory
    /// (positions and velocities as CP2K had them) or an extended-XYZ file (velocities from the
    /// file if it has a `velo` column). Without velocities they are drawn from Maxwell-Boltzmann
    /// at `temperature` (K) with `rng`. Returns the configuration and where it came from.
    public static func load(_ path: String, frame: Int, temperature: Double,
                            rng: inout SplitMix64, seed: UInt64) throws -> (Configuration, RunRecord.Start) {
        let loaded = try Configuration.loadFrame(path, frame: frame)
        var c = loaded.configuration
        var source = "file"
        if c.velocities == nil {
            c = c.withMaxwellBoltzmannVelocities(temperature: temperature, rng: &rng)
            source = String(format: "Maxwell-Boltzmann %g K, seed %llu", temperature, seed)
        }
        return (c, RunRecord.Start(source: path, frame: loaded.index, velocities: source))
    }
}
