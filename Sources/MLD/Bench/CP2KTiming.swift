import Foundation

/// CP2K's own wall time per MD step, the baseline of the speed-up `mld bench --cp2k` prints.
public struct CP2KTiming: Codable, Sendable {
    /// The `.ener` file read.
    public var file: String
    /// Atoms of the CP2K run (from its position file), nil if it could not be counted.
    public var atoms: Int?
    /// Steps with a recorded time (step > 0: step 0 is the set-up, not a step).
    public var steps: Int
    /// Seconds per MD step: median, min and max of the `UsedTime[s]` column.
    public var secondsPerStep: Spread

    /// Reads the `.ener` file of a CP2K output directory (or the file itself).
    public init(path: String) throws {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
            throw MLDError.input(file: path, line: nil, problem: "no such file or directory")
        }
        var ener = path
        var directory: String?
        if isDir.boolValue {
            directory = path
            let names = ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).sorted()
            guard let e = names.first(where: { $0.hasSuffix(".ener") }) else {
                throw MLDError.input(file: path, line: nil, problem: "no CP2K .ener file in this directory")
            }
            ener = (path as NSString).appendingPathComponent(e)
        }
        let used = try CP2KReader.readEnergies(ener).filter { $0.step > 0 }.map(\.usedTime)
        guard !used.isEmpty else {
            throw MLDError.input(file: ener, line: nil, problem: "no MD step after step 0 with a used time")
        }
        file = ener
        steps = used.count
        secondsPerStep = Spread(used)
        atoms = directory.flatMap { CP2KTiming.countAtoms(directory: $0) }
    }

    /// The atom count on the first line of the directory's position file, read without
    /// decompressing more than that file's head.
    static func countAtoms(directory: String) -> Int? {
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).sorted()
        guard let pos = names.first(where: { $0.contains("-pos-") }) else { return nil }
        guard let lines = try? TextFile.lines((directory as NSString).appendingPathComponent(pos)),
              let first = lines.first else { return nil }
        return Int(first.trimmingCharacters(in: .whitespaces))
    }
}
