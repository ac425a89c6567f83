import Foundation

/// One line of a simulation's energy log, in mld units: CP2K's `.ener` file or the
/// `thermo.csv` of an `mld run` directory.
public struct ThermoRecord: Sendable, Equatable {
    /// MD step number.
    public var step: Int
    /// Simulated time, in fs.
    public var time: Double
    /// Kinetic energy, in eV.
    public var kinetic: Double
    /// Instantaneous temperature as the program reported it, in K.
    public var temperature: Double
}

/// A trajectory for analysis: frames of one set of atoms in one periodic box, each with its
/// time in fs and (for the dynamical observables) velocities in Å/fs.
///
/// Analysis code knows only this type. It is loaded from a CP2K output directory
/// (`init(cp2k:)`) or from an `mld run` directory (`init(runDirectory:)`); `load(_:)` tells the
/// two apart (a run directory holds `trajectory.xyz` or `trajectory.nc`).
public struct Trajectory: Sendable {
    /// Where the frames came from (a directory), for reports.
    public var source: String
    /// What kind of source: "cp2k" or "mld run".
    public var kind: String
    /// Distinct elements in order of first appearance; `species[i]` indexes it.
    public var elements: [Element]
    /// Species index of every atom.
    public var species: [Int]
    /// The periodic box (fixed over the trajectory).
    public var box: Box
    /// Time of every frame, in fs, increasing.
    public var times: [Double]
    /// MD step of every frame, where the source gave one.
    public var steps: [Int?]
    /// Positions per frame, in Å (wrapped or not; observables use minimum images).
    public var positions: [[SIMD3<Double>]]
    /// Velocities per frame, in Å/fs; nil when the source has none.
    public var velocities: [[SIMD3<Double>]]?
    /// The energy log of the run (CP2K `.ener` or `thermo.csv`); may be empty.
    public var thermo: [ThermoRecord]

    public init(source: String, kind: String, elements: [Element], species: [Int], box: Box,
                times: [Double], steps: [Int?]? = nil, positions: [[SIMD3<Double>]],
                velocities: [[SIMD3<Double>]]? = nil, thermo: [ThermoRecord] = []) throws {
        guard !positions.isEmpty else {
            throw MLDError.input(file: source, line: nil, problem: "trajectory has no frames")
        }
        guard times.count == positions.count else {
            throw MLDError.input(file: source, line: nil,
                                 problem: "\(positions.count) frames but \(times.count) times")
        }
        for (k, p) in positions.enumerated() where p.count != species.count {
            throw MLDError.input(file: source, line: nil,
                                 problem: "frame \(k) has \(p.count) atoms, expected \(species.count)")
        }
        if let v = velocities {
            guard v.count == positions.count, v.allSatisfy({ $0.count == species.count }) else {
                throw MLDError.input(file: source, line: nil, problem: "velocities do not match the positions frame for frame")
            }
        }
        for k in 1..<max(times.count, 1) where !(times[k] > times[k - 1]) {
            throw MLDError.input(file: source, line: nil,
                                 problem: "frame times must increase: frame \(k) at \(times[k]) fs follows \(times[k - 1]) fs")
        }
        self.source = source
        self.kind = kind
        self.elements = elements
        self.species = species
        self.box = box
        self.times = times
        self.steps = steps ?? Array(repeating: nil, count: times.count)
        self.positions = positions
        self.velocities = velocities
        self.thermo = thermo
    }

    /// Builds a trajectory from configurations that share atoms and box; each needs a `time`.
    public init(frames: [Configuration], source: String, kind: String,
                thermo: [ThermoRecord] = []) throws {
        guard let first = frames.first else {
            throw MLDError.input(file: source, line: nil, problem: "trajectory has no frames")
        }
        var times: [Double] = []
        for (k, f) in frames.enumerated() {
            guard f.atomElements == first.atomElements else {
                throw MLDError.input(file: source, line: nil, problem: "frame \(k) holds different atoms than frame 0")
            }
            guard f.box == first.box else {
                throw MLDError.input(file: source, line: nil, problem: "frame \(k) has box \(f.box), frame 0 \(first.box); a fixed box is required")
            }
            guard let t = f.time else {
                throw MLDError.input(file: source, line: nil, problem: "frame \(k) has no time")
            }
            times.append(t)
        }
        let hasVelocities = frames.allSatisfy { $0.velocities != nil }
        try self.init(source: source, kind: kind, elements: first.elements, species: first.species,
                      box: first.box, times: times, steps: frames.map(\.step),
                      positions: frames.map(\.positions),
                      velocities: hasVelocities ? frames.map { $0.velocities! } : nil, thermo: thermo)
    }

    /// A trajectory from a CP2K run already read.
    public init(cp2k run: CP2KRun) throws {
        let thermo = run.energies.map {
            ThermoRecord(step: $0.step, time: $0.time, kinetic: $0.kinetic, temperature: $0.temperature)
        }
        // CP2K writes the time in each comment line; fall back to the .ener file, then step × dt.
        let byStep = Dictionary(thermo.map { ($0.step, $0.time) }, uniquingKeysWith: { a, _ in a })
        var frames = run.frames
        for k in frames.indices where frames[k].time == nil {
            if let s = frames[k].step, let t = byStep[s] { frames[k].time = t }
            else if let s = frames[k].step, let dt = run.timeStep { frames[k].time = Double(s) * dt }
        }
        try self.init(frames: frames, source: run.directory, kind: "cp2k", thermo: thermo)
    }

    /// Reads the output directory of a CP2K MD run (positions required; velocities, the
    /// `.ener` file and forces used where present).
    public init(cp2kDirectory directory: String) throws {
        try self.init(cp2k: try CP2KReader.read(directory: directory, requireForces: false))
    }

    /// Reads an `mld run` directory: `trajectory.xyz` (extended XYZ, positions in Å,
    /// `velo` in Å/fs, `time=` in fs) and, when present, `thermo.csv`.
    ///
    /// A frame without `time=` takes the time that `thermo.csv` gives for its `step=`. A run that
    /// wrote `trajectory.nc` only (`--trajectory-format netcdf`) is read from it: positions in Å
    /// and velocities (Å/ps, divided by 1000 to Å/fs) as the floats it stores, each frame's step
    /// and time from the row of `thermo.csv` written with it (else its time, ps times 1000).
    public init(runDirectory directory: String) throws {
        let xyz = (directory as NSString).appendingPathComponent("trajectory.xyz")
        let csv = (directory as NSString).appendingPathComponent("thermo.csv")
        let nc = (directory as NSString).appendingPathComponent("trajectory.nc")
        if !FileManager.default.fileExists(atPath: xyz) && FileManager.default.fileExists(atPath: nc) {
            let thermo = FileManager.default.fileExists(atPath: csv) ? try Trajectory.readThermoCSV(csv) : []
            try self.init(frames: try Self.netcdfFrames(nc, thermo: thermo), source: directory, kind: "mld run", thermo: thermo)
            return
        }
        var frames = try ExtendedXYZ.read(xyz)
        let thermo = FileManager.default.fileExists(atPath: csv) ? try Trajectory.readThermoCSV(csv) : []
        let byStep = Dictionary(thermo.map { ($0.step, $0.time) }, uniquingKeysWith: { a, _ in a })
        for k in frames.indices where frames[k].time == nil {
            guard let s = frames[k].step, let t = byStep[s] else {
                throw MLDError.input(file: xyz, line: nil,
                                     problem: "frame \(k) has no time= and its step is not in thermo.csv")
            }
            frames[k].time = t
        }
        try self.init(frames: frames, source: directory, kind: "mld run", thermo: thermo)
    }

    /// The frames of an mld trajectory.nc, with the steps and times of `thermo` when it has a
    /// row per frame.
    static func netcdfFrames(_ path: String, thermo: [ThermoRecord]) throws -> [Configuration] {
        let r = try AmberNetCDFReader(path)
        guard let symbols = r.elements else {
            throw MLDError.input(file: path, line: nil, problem: "has no atom_elements variable (the element of each atom); mld reads the trajectory.nc files it writes")
        }
        let atoms = try symbols.map { s -> Element in
            guard let e = Element(symbol: s) else {
                throw MLDError.input(file: path, line: nil, problem: "element '\(s.prefix(20))' is not one mld knows")
            }
            return e
        }
        let rows = thermo.count == r.frameCount ? thermo : nil
        return try (0..<r.frameCount).map { k in
            let f = try r.frame(k)
            return Configuration(atoms: atoms, positions: f.positions, velocities: f.velocitiesPerFemtosecond,
                                 box: Box(f.cellLengths), step: rows?[k].step,
                                 time: rows?[k].time ?? Double(f.time) / AmberNetCDF.timeScale)
        }
    }

    /// Loads `path`: an `mld run` directory if it holds `trajectory.xyz` or `trajectory.nc`,
    /// else a CP2K directory.
    public static func load(_ path: String) throws -> Trajectory {
        let xyz = (path as NSString).appendingPathComponent("trajectory.xyz")
        let nc = (path as NSString).appendingPathComponent("trajectory.nc")
        if FileManager.default.fileExists(atPath: xyz) || FileManager.default.fileExists(atPath: nc) {
            return try Trajectory(runDirectory: path)
        }
        return try Trajectory(cp2kDirectory: path)
    }

    /// The columns `thermo.csv` must start with; `loss_<El>_eV` columns per species and
    /// `thermostat_eV,com_drift_A,wall_s` follow.
    public static let thermoLeadingColumns = ["step", "time_fs", "kinetic_eV", "temperature_K"]

    /// Reads `thermo.csv` of an `mld run` directory:
    /// `step,time_fs,kinetic_eV,temperature_K,loss_O_eV,loss_H_eV,thermostat_eV,com_drift_A,wall_s`.
    public static func readThermoCSV(_ path: String) throws -> [ThermoRecord] {
        let lines = try TextFile.lines(path)
        guard let header = lines.first else {
            throw MLDError.input(file: path, line: 1, problem: "empty file, expected a header")
        }
        let all = header.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        // Optional trailing columns (written since model files of version 2).
        var names = all
        while let last = names.last, ["out_of_range", "potential_eV", "conserved_eV", "nonconservative_work_eV"].contains(last) {
            names.removeLast()
        }
        guard Array(names.prefix(4)) == thermoLeadingColumns,
              names.count >= 8,
              Array(names.suffix(3)) == ["thermostat_eV", "com_drift_A", "wall_s"],
              names[4..<(names.count - 3)].allSatisfy({ $0.hasPrefix("loss_") && $0.hasSuffix("_eV") }) else {
            throw MLDError.input(file: path, line: 1, problem:
                "header must be step,time_fs,kinetic_eV,temperature_K,loss_<El>_eV...,thermostat_eV,com_drift_A,wall_s; found '\(header.prefix(120))'")
        }
        var out: [ThermoRecord] = []
        for (i, line) in lines.enumerated().dropFirst() {
            let t = line.trimmingCharacters(in: .whitespaces)
            if t.isEmpty { continue }
            let f = t.split(separator: ",", omittingEmptySubsequences: false)
            guard f.count == all.count else {
                throw MLDError.input(file: path, line: i + 1, problem: "expected \(all.count) columns, found \(f.count)")
            }
            guard let step = Int(f[0].trimmingCharacters(in: .whitespaces)) else {
                throw MLDError.input(file: path, line: i + 1, problem: "step is not an integer: '\(f[0])'")
            }
            var v: [Double] = []
            for c in 1...3 {
                guard let x = Double(f[c].trimmingCharacters(in: .whitespaces)) else {
                    throw MLDError.input(file: path, line: i + 1, problem: "\(names[c]) is not a number: '\(f[c])'")
                }
                v.append(x)
            }
            out.append(ThermoRecord(step: step, time: v[0], kinetic: v[1], temperature: v[2]))
        }
        return out
    }

    /// Number of frames.
    public var frameCount: Int { positions.count }
    /// Number of atoms.
    public var atomCount: Int { species.count }
    /// Mass of every atom, in u.
    public var masses: [Double] { species.map { elements[$0].mass } }
    /// Simulated time spanned, in fs.
    public var duration: Double { times.last! - times.first! }

    /// The species index of the element with `symbol`, or nil.
    public func speciesIndex(_ symbol: String) -> Int? {
        elements.firstIndex { $0.symbol == symbol }
    }

    /// Indices of the atoms of element `symbol`, in file order.
    public func atoms(of symbol: String) -> [Int] {
        guard let s = speciesIndex(symbol) else { return [] }
        return species.indices.filter { species[$0] == s }
    }

    /// The constant frame spacing in fs. Throws if the spacing varies by more than 1e-6
    /// relative (time-correlation functions need a uniform grid) or there is one frame.
    public func uniformSpacing() throws -> Double {
        guard frameCount >= 2 else {
            throw MLDError.input(file: source, line: nil, problem: "needs at least two frames")
        }
        let dt = (times.last! - times.first!) / Double(frameCount - 1)
        for k in 1..<frameCount where abs(times[k] - times[k - 1] - dt) > 1e-6 * dt + 1e-9 {
            throw MLDError.input(file: source, line: nil, problem:
                "frames are not evenly spaced in time (frame \(k): \(times[k] - times[k - 1]) fs, mean \(dt) fs)")
        }
        return dt
    }

    /// Velocities, or an error naming the source.
    public func requireVelocities() throws -> [[SIMD3<Double>]] {
        guard let v = velocities else {
            throw MLDError.input(file: source, line: nil, problem: "no velocities (a CP2K *-vel-1.xyz file or a velo column is needed)")
        }
        return v
    }
}

extension Trajectory {
    /// The frames whose time (fs) lies in `window`, with the energy log cut to match.
    public func restricted(to window: ClosedRange<Double>) throws -> Trajectory {
        let keep = times.indices.filter { window.contains(times[$0]) }
        guard keep.count >= 2 else {
            throw MLDError.usage("\(source): fewer than two frames between \(window.lowerBound) and \(window.upperBound) fs (frames span \(times.first!)-\(times.last!) fs)")
        }
        return try Trajectory(source: source, kind: kind, elements: elements, species: species, box: box,
                              times: keep.map { times[$0] }, steps: keep.map { steps[$0] },
                              positions: keep.map { positions[$0] },
                              velocities: velocities.map { v in keep.map { v[$0] } },
                              thermo: thermo.filter { window.contains($0.time) })
    }
}
