import Foundation

/// Where a run starts: one frame of a CP2K run directory or of an extended-XYZ file.
public enum StartingConfiguration {
    /// Loads frame `frame` (0 the first, -1 the last) of `path`, a CP2K output directory
    /// (positions and velocities as CP2K had them) or an extended-XYZ file (velocities from the
    /// file if it has a `velo` column). Without velocities they are drawn from Maxwell-Boltzmann
    /// at `temperature` (K) with `rng`. Returns the configuration and where it came from.
    public static func load(_ path: String, frame: Int, temperature: Double,
                            rng: inout SplitMix64, seed: UInt64) throws -> (Configuration, RunRecord.Start) {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
            throw MLDError.input(file: path, line: nil, problem: "no such file or directory")
        }
        let frames: [Configuration]
        if isDir.boolValue {
            frames = try CP2KReader.read(directory: path, requireForces: false).frames
        } else {
            frames = try ExtendedXYZ.read(path)
        }
        let k = frame < 0 ? frames.count + frame : frame
        guard k >= 0 && k < frames.count else {
            throw MLDError.usage("--frame \(frame) is out of range: \(path) has \(frames.count) frames (0...\(frames.count - 1), or -1 for the last)")
        }
        var c = frames[k]
        var source = "file"
        if c.velocities == nil {
            c = c.withMaxwellBoltzmannVelocities(temperature: temperature, rng: &rng)
            source = String(format: "Maxwell-Boltzmann %g K, seed %llu", temperature, seed)
        }
        c.forces = nil
        return (c, RunRecord.Start(source: path, frame: k, velocities: source))
    }
}
