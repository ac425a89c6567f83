import Foundation

/// One line of a CP2K `*-1.ener` file, converted to mld units.
public struct CP2KEnergyRecord: Sendable, Equatable {
    /// MD step number.
    public var step: Int
    /// Simulated time in fs.
    public var time: Double
    /// Kinetic energy in eV.
    public var kinetic: Double
    /// Instantaneous temperature in K.
    public var temperature: Double
    /// Potential energy in eV.
    public var potential: Double
    /// Conserved quantity of the thermostatted dynamics in eV.
    public var conserved: Double
    /// Wall time CP2K spent on this step, in s.
    public var usedTime: Double
}

/// A CP2K molecular-dynamics run read from its output directory, in mld units.
public struct CP2KRun: Sendable {
    /// The directory it was read from.
    public var directory: String
    /// The CP2K project name (the common prefix of the files).
    public var project: String
    /// The periodic cell.
    public var box: Box
    /// Where the cell came from (a file path, or "--cell").
    public var cellSource: String
    /// Frames in step order: positions (Å), velocities (Å/fs) and forces (eV/Å) where the
    /// corresponding files exist. Every frame holds the same atoms in the same order.
    public var frames: [Configuration]
    /// The `.ener` records, in step order (empty if there is no `.ener` file).
    public var energies: [CP2KEnergyRecord]
    /// The files that were read.
    public var files: [String]
    /// What the reader noticed but did not refuse (e.g. an `.ener` file that covers only some
    /// of the frames); also passed to `CP2KReader.warningHandler` as they are found.
    public var warnings: [String] = []

    /// The distinct elements and per-atom species, shared by all frames.
    public var elements: [Element] { frames.first?.elements ?? [] }
    public var atomCount: Int { frames.first?.count ?? 0 }
    /// Step numbers of the frames.
    public var steps: [Int] { frames.map { $0.step ?? 0 } }
    /// The MD time step in fs (from the frame times, else the `.ener` file).
    public var timeStep: Double? {
        // Step differences in Double: steps anywhere in Int's range never overflow.
        func perStep(_ t0: Double, _ t1: Double, _ s0: Int, _ s1: Int) -> Double? {
            let dt = (t1 - t0) / (Double(s1) - Double(s0))
            return dt.isFinite && s1 != s0 ? dt : nil
        }
        if frames.count >= 2, let t0 = frames[0].time, let t1 = frames[1].time,
           let s0 = frames[0].step, let s1 = frames[1].step, let dt = perStep(t0, t1, s0, s1) {
            return dt
        }
        if energies.count >= 2 {
            return perStep(energies[0].time, energies[1].time, energies[0].step, energies[1].step)
        }
        return nil
    }
    public var hasForces: Bool { frames.first?.forces != nil }
    public var hasVelocities: Bool { frames.first?.velocities != nil }
}

/// Reads the output directory of a CP2K MD run.
///
/// Files (the `-1` is CP2K's run index):
/// - `PROJECT-pos-1.xyz[.xz]`: positions in Å (required);
/// - `PROJECT-frc-1.xyz[.xz]`: forces in Hartree/Bohr (required unless `requireForces` is false);
/// - `PROJECT-vel-1.xyz[.xz]`: velocities in Bohr per atomic time unit (optional);
/// - `PROJECT-1.ener`: step, time (fs), kinetic (Ha), temperature (K), potential (Ha),
///   conserved (Ha), used time (s) (optional);
/// - the cell: `PROJECT-1.cell`, else the `&CELL` section of a `*.restart` file, else `cell`.
///
/// Frames are matched across files by the `i = STEP` number of each comment line, never by
/// their position in the file: a step present in one file and missing in another is an error.
public enum CP2KReader {
    /// Called with each warning as the reader finds it (the command line prints them on
    /// standard error); nil: warnings are only collected in `CP2KRun.warnings`.
    nonisolated(unsafe) public static var warningHandler: ((String) -> Void)?

    /// The `-pos-1.xyz[.xz]` files of a directory listing and the CP2K projects they name.
    static func projects(_ names: [String]) -> (files: [String], projects: [String]) {
        let files = names.filter { $0.hasSuffix("-pos-1.xyz") || $0.hasSuffix("-pos-1.xyz.xz") }
        let projects = Set(files.map { String($0[..<$0.range(of: "-pos-1.xyz", options: .backwards)!.lowerBound]) })
        return (files, projects.sorted())
    }

    /// The project a CP2K positions file names (`DIR/w-eq-pos-1.xyz[.xz]` -> `w-eq`), nil for
    /// any other name. Such a path chooses one project of a directory that holds several.
    public static func projectOfPositionsFile(_ path: String) -> String? {
        let name = (path as NSString).lastPathComponent
        for suffix in ["-pos-1.xyz", "-pos-1.xyz.xz"] where name.hasSuffix(suffix) && name.count > suffix.count {
            return String(name.dropLast(suffix.count))
        }
        return nil
    }

    /// Refuses a directory with more than one CP2K project (by its `-pos-1.xyz[.xz]` files) or
    /// more than one `.ener` file, naming them: for readers that pick one file of a directory.
    public static func checkOneProject(_ directory: String) throws {
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).sorted()
        let found = projects(names)
        if found.projects.count > 1 {
            throw MLDError.input(file: directory, line: nil, problem: "holds \(found.projects.count) CP2K projects (\(found.projects.map { "'\($0)'" }.joined(separator: ", ")): \(found.files.joined(separator: ", "))); name one by its positions file (e.g. \((directory as NSString).appendingPathComponent(found.files[0]))) or move the others into their own directories")
        }
        let ener = names.filter { $0.hasSuffix(".ener") }
        if ener.count > 1 {
            throw MLDError.input(file: directory, line: nil, problem: "holds \(ener.count) .ener files (\(ener.joined(separator: ", "))); keep one per directory")
        }
    }

    /// A directory must hold one CP2K project: two (`water-eq-pos-1.xyz` beside
    /// `water-pos-1.xyz`) are refused, naming both, never one chosen silently; the path of a
    /// positions file (`DIR/water-eq-pos-1.xyz`) chooses that project. A file present both plain
    /// and as `.xz` is refused too.
    public static func read(directory given: String, cell: Box? = nil,
                            requireForces: Bool = true) throws -> CP2KRun {
        var isDir: ObjCBool = false
        var directory = given
        var chosen: String?
        if FileManager.default.fileExists(atPath: given, isDirectory: &isDir), !isDir.boolValue,
           let p = projectOfPositionsFile(given) {
            chosen = p
            directory = (given as NSString).deletingLastPathComponent
            if directory.isEmpty { directory = "." }
        } else {
            guard FileManager.default.fileExists(atPath: directory, isDirectory: &isDir), isDir.boolValue else {
                throw MLDError.input(file: directory, line: nil, problem: "not a directory")
            }
        }
        let names = ((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).sorted()
        let found = projects(names)
        guard let onlyProject = chosen ?? found.projects.first else {
            let what = names.isEmpty ? "empty directory" : "no CP2K positions file (*-pos-1.xyz or *-pos-1.xyz.xz)"
            throw MLDError.input(file: directory, line: nil, problem: what)
        }
        if chosen == nil && found.projects.count > 1 { try checkOneProject(directory) }
        let project = onlyProject
        /// The file `name` or `name.xz` (exact names), refusing both at once.
        func find(_ name: String, xz: Bool = true) throws -> String? {
            let plain = names.contains(name), packed = xz && names.contains(name + ".xz")
            if plain && packed {
                throw MLDError.input(file: path(name), line: nil, problem: "both \(name) and \(name).xz are present; keep one of them (they may differ)")
            }
            return plain ? name : packed ? name + ".xz" : nil
        }
        func path(_ n: String) -> String { (directory as NSString).appendingPathComponent(n) }
        let posName = try find("\(project)-pos-1.xyz")!
        let frcName = try find("\(project)-frc-1.xyz")
        let velName = try find("\(project)-vel-1.xyz")
        let enerName = try find("\(project)-1.ener", xz: false)
        if requireForces && frcName == nil {
            throw MLDError.input(file: path("\(project)-frc-1.xyz.xz"), line: nil,
                                 problem: "missing forces file (needed for fitting and evaluation)")
        }

        /// The cell of the `.restart` files that have a `&CELL`; several that disagree are refused.
        func restartCell() throws -> (String, Box)? {
            var cells: [(String, Box)] = []
            // With a chosen project, its own restart files if it has any.
            let own = names.filter { $0.hasSuffix(".restart") && $0.hasPrefix(project + "-") }
            for n in (chosen != nil && !own.isEmpty ? own : names) where n.hasSuffix(".restart") {
                if let b = try readRestartCell(path(n)) { cells.append((n, b)) }
            }
            if let other = cells.first(where: { $0.1 != cells[0].1 }) {
                throw MLDError.input(file: directory, line: nil, problem: "the .restart files give different cells (\(cells[0].0): \(cells[0].1), \(other.0): \(other.1)); keep one, or write \(project)-1.cell")
            }
            return cells.first
        }

        // The cell.
        let box: Box
        let cellSource: String
        if let cellName = try find("\(project)-1.cell", xz: false) {
            box = try readCellFile(path(cellName)); cellSource = path(cellName)
        } else if let (restart, b) = try restartCell() {
            box = b; cellSource = path(restart)
        } else if let cell {
            box = cell; cellSource = "--cell"
        } else {
            throw MLDError.input(file: directory, line: nil,
                                 problem: "cell not found: no *-1.cell file, no &CELL in a *.restart file; give --cell a,b,c")
        }

        // Positions define the atoms and the steps.
        let posPath = path(posName)
        let pos = try XYZFrames.read(posPath, scale: 1.0)
        guard let first = pos.first else {
            throw MLDError.input(file: posPath, line: nil, problem: "no frames")
        }
        var files = [posPath]
        let atoms = first.elements
        var frames: [Configuration] = pos.map {
            Configuration(atoms: atoms, positions: $0.vectors, box: box, step: $0.step, time: $0.time)
        }
        for (k, f) in pos.enumerated() where f.elements != atoms {
            throw MLDError.input(file: posPath, line: f.line, problem: "frame \(k) (step \(f.step)) lists different elements than the first frame")
        }
        let index = Dictionary(pos.enumerated().map { ($1.step, $0) }, uniquingKeysWith: { a, _ in a })
        if index.count != pos.count {
            let dup = pos.map(\.step).sorted().adjacentPairs().first { $0 == $1 }!.0
            throw MLDError.input(file: posPath, line: nil, problem: "step \(dup) appears twice")
        }

        // Per-atom vector files matched by step.
        func attach(_ name: String, scale: Double, _ set: (inout Configuration, [SIMD3<Double>]) -> Void) throws {
            let p = path(name)
            files.append(p)
            let other = try XYZFrames.read(p, scale: scale)
            var seen = Set<Int>()
            for f in other {
                if f.elements.count != atoms.count {
                    throw MLDError.input(file: p, line: f.line, problem: "\(f.elements.count) atoms at step \(f.step), but \(atoms.count) in \(posPath)")
                }
                if f.elements != atoms {
                    throw MLDError.input(file: p, line: f.line, problem: "elements at step \(f.step) differ from \(posPath)")
                }
                guard let k = index[f.step] else {
                    throw MLDError.input(file: p, line: f.line, problem: "step \(f.step) is not in \(posPath)")
                }
                set(&frames[k], f.vectors)
                seen.insert(f.step)
            }
            if let missing = pos.first(where: { !seen.contains($0.step) }) {
                throw MLDError.input(file: p, line: nil, problem: "step \(missing.step) of \(posPath) is missing")
            }
        }
        if let frcName { try attach(frcName, scale: Units.hartreePerBohr) { $0.forces = $1 } }
        if let velName { try attach(velName, scale: Units.bohrPerAtomicTime) { $0.velocities = $1 } }

        var energies: [CP2KEnergyRecord] = []
        var warnings: [String] = []
        if let enerName {
            files.append(path(enerName))
            energies = try readEnergies(path(enerName))
            // Fewer energy rows than frames: said, not silently averaged over what is there.
            let covered = Set(energies.map(\.step))
            let missing = pos.map(\.step).filter { !covered.contains($0) }
            if !missing.isEmpty {
                let w = "\(path(enerName)): \(energies.count) rows for \(pos.count) frames; \(missing.count) frame steps have no energy row (first: step \(missing[0])), so energies and temperatures from it cover only part of the run"
                warnings.append(w)
                warningHandler?(w)
            }
        }
        var run = CP2KRun(directory: directory, project: project, box: box, cellSource: cellSource,
                          frames: frames, energies: energies, files: files)
        run.warnings = warnings
        return run
    }

    /// Reads a CP2K `.ener` file (Hartree columns converted to eV).
    public static func readEnergies(_ path: String) throws -> [CP2KEnergyRecord] {
        var out: [CP2KEnergyRecord] = []
        for (i, line) in try TextFile.lines(path).enumerated() {
            let t = line.trimmingCharacters(in: .whitespaces)
            if t.isEmpty || t.hasPrefix("#") { continue }
            let f = t.split(whereSeparator: { $0 == " " || $0 == "\t" })
            guard f.count >= 7 else {
                throw MLDError.input(file: path, line: i + 1, problem: "expected 7 columns, found \(f.count)")
            }
            // The step is an integer; every other column a finite number.
            guard let step = Int(f[0]) else {
                throw MLDError.input(file: path, line: i + 1, problem: "column 1 (the step) is not an integer: '\(f[0].prefix(40))'")
            }
            var v = [Double]()
            for (c, s) in f.prefix(7).enumerated() {
                guard let x = Double(s), x.isFinite else {
                    throw MLDError.input(file: path, line: i + 1, problem: "column \(c + 1) is not a finite number: '\(s.prefix(40))'")
                }
                v.append(x)
            }
            out.append(CP2KEnergyRecord(step: step, time: v[1], kinetic: v[2] * Units.hartree,
                                        temperature: v[3], potential: v[4] * Units.hartree,
                                        conserved: v[5] * Units.hartree, usedTime: v[6]))
        }
        return out
    }

    /// Reads the first cell of a CP2K `.cell` file: `step time Ax Ay Az Bx By Bz Cx Cy Cz volume`, Å.
    static func readCellFile(_ path: String) throws -> Box {
        for (i, line) in try TextFile.lines(path).enumerated() {
            let t = line.trimmingCharacters(in: .whitespaces)
            if t.isEmpty || t.hasPrefix("#") { continue }
            let f = t.split(whereSeparator: { $0 == " " || $0 == "\t" }).compactMap { Double($0) }
            guard f.count >= 11 else {
                throw MLDError.input(file: path, line: i + 1, problem: "expected step, time and 9 cell components")
            }
            return try orthorhombic(a: SIMD3(f[2], f[3], f[4]), b: SIMD3(f[5], f[6], f[7]),
                                    c: SIMD3(f[8], f[9], f[10]), file: path, line: i + 1)
        }
        throw MLDError.input(file: path, line: nil, problem: "no cell in file")
    }

    /// Reads `A`, `B`, `C` (or `ABC`) from the first `&CELL` section of a CP2K restart file, in Å.
    /// Returns nil when the file has no `&CELL` section.
    static func readRestartCell(_ path: String) throws -> Box? {
        let lines = try TextFile.lines(path)
        guard let start = lines.firstIndex(where: {
            $0.trimmingCharacters(in: .whitespaces).uppercased() == "&CELL"
        }) else { return nil }
        var vec: [String: (SIMD3<Double>, Int)] = [:]
        var i = start + 1
        while i < lines.count {
            let t = lines[i].trimmingCharacters(in: .whitespaces)
            if t.uppercased().hasPrefix("&END") { break }
            var f = t.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
            if let key = f.first?.uppercased(), ["A", "B", "C", "ABC"].contains(key) {
                f.removeFirst()
                if f.first?.hasPrefix("[") == true {
                    guard f.first!.lowercased() == "[angstrom]" else {
                        throw MLDError.input(file: path, line: i + 1, problem: "cell unit \(f.first!) is not supported (use angstrom)")
                    }
                    f.removeFirst()
                }
                let x = f.prefix(3).compactMap { Double($0) }
                guard x.count == 3 else {
                    throw MLDError.input(file: path, line: i + 1, problem: "\(key) needs three numbers")
                }
                vec[key] = (SIMD3(x[0], x[1], x[2]), i + 1)
            }
            i += 1
        }
        if let (abc, l) = vec["ABC"] {
            let box = Box(abc)
            if let problem = box.edgeProblem { throw MLDError.input(file: path, line: l, problem: problem) }
            return box
        }
        guard let (a, la) = vec["A"], let (b, _) = vec["B"], let (c, _) = vec["C"] else {
            throw MLDError.input(file: path, line: start + 1, problem: "&CELL has neither ABC nor all of A, B, C")
        }
        return try orthorhombic(a: a, b: b, c: c, file: path, line: la)
    }

    static func orthorhombic(a: SIMD3<Double>, b: SIMD3<Double>, c: SIMD3<Double>,
                             file: String, line: Int) throws -> Box {
        guard [a, b, c].allSatisfy({ $0.x.isFinite && $0.y.isFinite && $0.z.isFinite }) else {
            throw MLDError.input(file: file, line: line, problem: "the cell has a component that is not a finite number")
        }
        let off = [a.y, a.z, b.x, b.z, c.x, c.y].map(abs).max()!
        let diag = Box(a.x, b.y, c.z)
        guard off <= 1e-8 * diag.shortestEdge else {
            throw MLDError.input(file: file, line: line, problem: "non-orthorhombic cell (off-diagonal component \(off) Å); only orthorhombic cells are supported")
        }
        guard diag.lengths.min() > 0 else {
            throw MLDError.input(file: file, line: line, problem: "cell edges must be positive")
        }
        if let problem = diag.edgeProblem {
            throw MLDError.input(file: file, line: line, problem: problem)
        }
        return diag
    }
}

/// Plain multi-frame XYZ as CP2K writes it: a count line, a comment `i = STEP, time = FS, E = ...`,
/// then one `Element x y z` line per atom.
enum XYZFrames {
    struct Frame {
        var step: Int
        var time: Double?
        var elements: [Element]
        var vectors: [SIMD3<Double>]
        /// 1-based line number of the frame's count line.
        var line: Int
    }

    static func read(_ path: String, scale: Double) throws -> [Frame] {
        let lines = try TextFile.lines(path)
        var frames: [Frame] = []
        var i = 0
        var elementCache: [Substring: Element] = [:]
        var atomLine = XYZAtomLine()
        while i < lines.count {
            let countLine = lines[i].trimmingCharacters(in: .whitespaces)
            if countLine.isEmpty { i += 1; continue }
            guard let n = Int(countLine), n > 0 else {
                throw MLDError.input(file: path, line: i + 1, problem: "expected an atom count, found '\(countLine.prefix(40))'")
            }
            guard i + 1 < lines.count else {
                throw MLDError.input(file: path, line: i + 1, problem: "truncated frame: no comment line")
            }
            let comment = lines[i + 1]
            let step = parseKey("i", in: comment).flatMap { Int($0) } ?? frames.count
            let time = parseKey("time", in: comment).flatMap { Double($0) }
            if let time, !time.isFinite {
                throw MLDError.input(file: path, line: i + 2, problem: "time = \(time) is not a finite number of fs")
            }
            var elements: [Element] = []
            var vectors: [SIMD3<Double>] = []
            // At most the lines there are: a count of 10^15 in a damaged file allocates nothing.
            elements.reserveCapacity(min(n, lines.count)); vectors.reserveCapacity(min(n, lines.count))
            for j in 0..<n {
                let ln = i + 2 + j
                // the usual line from its bytes; any other through the checks below
                if ln < lines.count, let atom = atomLine.parse(lines[ln]) {
                    elements.append(atom.element)
                    vectors.append(atom.vector * scale)
                    continue
                }
                guard ln < lines.count, !lines[ln].allSatisfy({ $0 == " " || $0 == "\t" }) else {
                    throw MLDError.input(file: path, line: min(ln, lines.count) + 1,
                                         problem: "truncated frame at step \(step): expected \(n) atoms, found \(j)")
                }
                let f = lines[ln].split(whereSeparator: { $0 == " " || $0 == "\t" })
                guard f.count >= 4 else {
                    throw MLDError.input(file: path, line: ln + 1, problem: "expected 'Element x y z', found \(f.count) fields")
                }
                let el: Element
                if let e = elementCache[f[0]] { el = e } else {
                    guard let e = Element(symbol: String(f[0])) else {
                        throw MLDError.input(file: path, line: ln + 1, problem: "unknown element '\(f[0])'")
                    }
                    elementCache[f[0]] = e; el = e
                }
                guard let x = Double(f[1]), let y = Double(f[2]), let z = Double(f[3]),
                      x.isFinite, y.isFinite, z.isFinite else {
                    let bad = f[1...3].first { Double($0)?.isFinite != true }!
                    throw MLDError.input(file: path, line: ln + 1, problem: "not a number: '\(bad)'")
                }
                elements.append(el)
                vectors.append(SIMD3(x, y, z) * scale)
            }
            frames.append(Frame(step: step, time: time, elements: elements, vectors: vectors, line: i + 1))
            i += 2 + n
        }
        return frames
    }

    /// The value after `key =` in a CP2K comment line (`i =  0, time = 0.000, E = -370.1`).
    static func parseKey(_ key: String, in comment: Substring) -> Substring? {
        for part in comment.split(separator: ",") {
            let kv = part.split(separator: "=", maxSplits: 1)
            if kv.count == 2, kv[0].trimmingCharacters(in: .whitespaces) == key {
                return Substring(kv[1].trimmingCharacters(in: .whitespaces))
            }
        }
        return nil
    }
}

extension Sequence {
    func adjacentPairs() -> [(Element, Element)] {
        var out: [(Element, Element)] = []
        var prev: Element?
        for x in self { if let p = prev { out.append((p, x)) }; prev = x }
        return out
    }
}
