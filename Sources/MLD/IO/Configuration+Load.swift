import Foundation

extension Configuration {
    /// One configuration from a CP2K output directory (positions, and velocities as CP2K had
    /// them; or its positions file `DIR/PROJECT-pos-1.xyz[.xz]`, which chooses that project) or
    /// an extended-XYZ file: frame `frame` counted from 0, negative counts from the end
    /// (-1 is the last). Forces are dropped.
    public static func load(_ path: String, frame: Int) throws -> Configuration {
        try loadFrame(path, frame: frame).configuration
    }

    /// As `load`, also returning the frame's index counted from 0.
    public static func loadFrame(_ path: String, frame: Int) throws -> (configuration: Configuration, index: Int) {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
            throw MLDError.input(file: path, line: nil, problem: "no such file or directory")
        }
        let frames: [Configuration]
        if isDir.boolValue || CP2KReader.projectOfPositionsFile(path) != nil {
            frames = try CP2KReader.read(directory: path, requireForces: false).frames
        } else {
            frames = try ExtendedXYZ.read(path)
        }
        let k = frame < 0 ? frames.count + frame : frame
        guard k >= 0, k < frames.count else {
            throw MLDError.usage("--frame \(frame) is out of range: \(path) has \(frames.count) frames (0...\(frames.count - 1), or -1 for the last)")
        }
        var c = frames[k]
        c.forces = nil
        return (c, k)
    }
}
