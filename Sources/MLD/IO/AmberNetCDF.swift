import CNetCDF
import Foundation

/// AMBER NetCDF trajectories (https://ambermd.org/netcdf/nctraj.xhtml, convention version 1.0),
/// written and read through the NetCDF C library in the NetCDF-3 64-bit offset format
/// (`NC_64BIT_OFFSET`), which VMD, MDAnalysis, MDTraj, cpptraj, ASE and scipy read.
///
/// What a file holds (N atoms, F frames; the frame dimension is unlimited):
///
/// - global attributes `Conventions = "AMBER"`, `ConventionVersion = "1.0"`, `program = "mld"`,
///   `programVersion`, `title`;
/// - `time(frame)`: float, ps;
/// - `spatial(spatial)`: char, "xyz";
/// - `coordinates(frame, atom, spatial)`: float, Å (positions as the run has them, not wrapped
///   into the box, like trajectory.xyz);
/// - `velocities(frame, atom, spatial)`: float, Å/ps (mld's Å/fs times 1000; no `scale_factor`);
/// - `cell_lengths(frame, cell_spatial)`: double, Å; `cell_angles(frame, cell_angular)`:
///   double, degrees (always 90: mld's boxes are orthorhombic);
/// - `cell_spatial(cell_spatial)`: char, "abc"; `cell_angular(cell_angular, label)`: char,
///   "alpha", "beta", "gamma";
/// - beyond the convention (readers ignore what they do not know): `atom_types(atom)`, int, each
///   atom's atomic number (0 for a symbol mld has no number for), the name and meaning ASE's
///   NetCDF reader gives it; and `atom_elements(atom, element_length)`, char, each atom's
///   element symbol as mld knows it.
///
/// Floats are the IEEE single-precision numbers nearest to mld's doubles (Å, Å/ps, ps), so a
/// position keeps about 7 significant digits (1e-4 Å at 1000 Å).
public enum AmberNetCDF {
    /// The `Conventions` and `ConventionVersion` attributes.
    public static let conventions = "AMBER"
    public static let conventionVersion = "1.0"
    /// The `program` attribute.
    public static let program = "mld"
    /// The `programVersion` attribute: the version of what mld writes in these files (raised
    /// when it changes).
    public static let programVersion = "1"
    /// Velocities in the file (Å/ps) per mld velocity unit (Å/fs).
    public static let velocityScale = 1000.0
    /// Time in the file (ps) per mld time unit (fs).
    public static let timeScale = 1e-3
    /// Held around every call into the NetCDF library, which is not thread-safe (its table of
    /// open files is shared): writers and readers may then be used from any threads.
    static let library = NSRecursiveLock()

    /// One frame as the file stores it.
    public struct Frame: Equatable, Sendable {
        /// Simulated time in ps.
        public var time: Float
        /// Positions in Å: x, y, z of atom 0, then of atom 1, ... (3N numbers).
        public var coordinates: [Float]
        /// Velocities in Å/ps, laid out like `coordinates`; nil when the file has none.
        public var velocities: [Float]?
        /// Cell edges a, b, c in Å.
        public var cellLengths: SIMD3<Double>
        /// Cell angles alpha, beta, gamma in degrees.
        public var cellAngles: SIMD3<Double>

        public init(time: Float, coordinates: [Float], velocities: [Float]?, cellLengths: SIMD3<Double>,
                    cellAngles: SIMD3<Double> = SIMD3(repeating: 90)) {
            self.time = time
            self.coordinates = coordinates
            self.velocities = velocities
            self.cellLengths = cellLengths
            self.cellAngles = cellAngles
        }

        /// The frame of `c`: positions in Å, velocities from Å/fs to Å/ps, time from fs to ps
        /// (0 when `c` has none), each rounded to the nearest float; the box edges in Å and
        /// angles of 90 degrees.
        public init(configuration c: Configuration) {
            var x = [Float](repeating: 0, count: 3 * c.count)
            for (i, p) in c.positions.enumerated() {
                x[3 * i] = Float(p.x); x[3 * i + 1] = Float(p.y); x[3 * i + 2] = Float(p.z)
            }
            var v: [Float]?
            if let vel = c.velocities {
                var u = [Float](repeating: 0, count: 3 * c.count)
                let k = AmberNetCDF.velocityScale
                for (i, w) in vel.enumerated() {
                    u[3 * i] = Float(w.x * k); u[3 * i + 1] = Float(w.y * k); u[3 * i + 2] = Float(w.z * k)
                }
                v = u
            }
            self.init(time: Float((c.time ?? 0) * AmberNetCDF.timeScale), coordinates: x, velocities: v,
                      cellLengths: c.box.lengths)
        }

        /// Positions in Å, one vector per atom.
        public var positions: [SIMD3<Double>] { Self.vectors(coordinates, scale: 1) }
        /// Velocities in mld's Å/fs (the file's Å/ps divided by 1000), nil when absent.
        public var velocitiesPerFemtosecond: [SIMD3<Double>]? {
            velocities.map { Self.vectors($0, scale: 1 / AmberNetCDF.velocityScale) }
        }

        static func vectors(_ a: [Float], scale: Double) -> [SIMD3<Double>] {
            var out = [SIMD3<Double>](repeating: .zero, count: a.count / 3)
            for i in out.indices {
                let x = Double(a[3 * i]), y = Double(a[3 * i + 1]), z = Double(a[3 * i + 2])
                out[i] = SIMD3(x, y, z) * scale
            }
            return out
        }

        /// Adds the frame's stored numbers to `h`, in the order time, coordinates, velocities
        /// (when present), cell lengths, cell angles, each number's IEEE bytes little endian.
        /// A checkpoint records this digest over the frames written so far; a resume checks
        /// the file against it.
        public func digest(into h: inout SHA256.Hasher) {
            func add<T>(_ a: [T]) {
                a.withUnsafeBytes { h.update($0.bindMemory(to: UInt8.self)) }
            }
            #if _endian(little)
            add([time]); add(coordinates)
            if let velocities { add(velocities) }
            add([cellLengths.x, cellLengths.y, cellLengths.z, cellAngles.x, cellAngles.y, cellAngles.z])
            #else
            add([time.bitPattern.littleEndian]); add(coordinates.map { $0.bitPattern.littleEndian })
            if let velocities { add(velocities.map { $0.bitPattern.littleEndian }) }
            add([cellLengths.x, cellLengths.y, cellLengths.z, cellAngles.x, cellAngles.y, cellAngles.z]
                .map { $0.bitPattern.littleEndian })
            #endif
        }
    }

    /// The atomic numbers of the elements mld knows (0 for any other symbol).
    public static func atomicNumber(_ symbol: String) -> Int32 {
        let z: [String: Int32] = ["H": 1, "D": 1, "He": 2, "Li": 3, "C": 6, "N": 7, "O": 8, "F": 9, "Na": 11,
                                  "Mg": 12, "P": 15, "S": 16, "Cl": 17, "Ar": 18, "K": 19, "Ca": 20]
        return z[symbol] ?? 0
    }

    /// The NetCDF library's message for a status code ("NetCDF: Not a valid ID", or the
    /// system's message for an errno).
    public static func message(_ status: Int32) -> String { String(cString: nc_strerror(status)) }

    /// Throws `MLDError.output` naming `path` unless `status` is NC_NOERR.
    static func written(_ status: Int32, _ path: String, _ what: @autoclosure () -> String) throws {
        guard status != NC_NOERR else { return }
        throw MLDError.output(file: path, problem: "\(what()) failed (\(message(status)))")
    }

    /// Throws `MLDError.input` naming `path` unless `status` is NC_NOERR.
    static func read(_ status: Int32, _ path: String, _ what: @autoclosure () -> String) throws {
        guard status != NC_NOERR else { return }
        throw MLDError.input(file: path, line: nil, problem: "\(what()) failed (\(message(status)))")
    }

    /// The dimensions and variables of an AMBER trajectory open as `ncid`, checked against the
    /// convention (the names, shapes and spatial sizes mld relies on).
    struct Layout {
        var atoms: Int
        var frames: Int
        var time: Int32, coordinates: Int32, velocities: Int32?, cellLengths: Int32, cellAngles: Int32

        init(ncid: Int32, path: String) throws {
            func bad(_ what: String) -> MLDError {
                .input(file: path, line: nil, problem: "not an AMBER NetCDF trajectory: \(what)")
            }
            let conventions = AmberNetCDF.attribute(ncid, NC_GLOBAL, "Conventions")
            guard let conventions, conventions.split(whereSeparator: { $0 == "," || $0 == " " }).contains("AMBER") else {
                throw bad("its Conventions attribute is \(conventions.map { "'\($0)'" } ?? "missing"), not 'AMBER'")
            }
            let version = AmberNetCDF.attribute(ncid, NC_GLOBAL, "ConventionVersion")
            guard version == AmberNetCDF.conventionVersion else {
                throw bad("ConventionVersion \(version.map { "'\($0)'" } ?? "missing"), mld reads '1.0'")
            }
            func dim(_ name: String) throws -> (id: Int32, length: Int) {
                var id: Int32 = 0, n = 0
                guard nc_inq_dimid(ncid, name, &id) == NC_NOERR, nc_inq_dimlen(ncid, id, &n) == NC_NOERR else {
                    throw bad("no \(name) dimension")
                }
                return (id, n)
            }
            let frame = try dim("frame"), atom = try dim("atom"), spatial = try dim("spatial")
            let cellSpatial = try dim("cell_spatial"), cellAngular = try dim("cell_angular")
            guard spatial.length == 3, cellSpatial.length == 3, cellAngular.length == 3 else {
                throw bad("spatial, cell_spatial and cell_angular must have length 3")
            }
            guard atom.length > 0 else { throw bad("no atoms") }
            func variable(_ name: String, _ dims: [Int32], optional: Bool = false) throws -> Int32? {
                var id: Int32 = 0
                guard nc_inq_varid(ncid, name, &id) == NC_NOERR else {
                    if optional { return nil }
                    throw bad("no \(name) variable")
                }
                var type: nc_type = 0, ndims: Int32 = 0
                var have = [Int32](repeating: 0, count: Int(NC_MAX_VAR_DIMS))
                guard nc_inq_var(ncid, id, nil, &type, &ndims, &have, nil) == NC_NOERR,
                      Array(have.prefix(Int(ndims))) == dims else {
                    throw bad("\(name) does not have the dimensions the convention gives it")
                }
                guard [NC_FLOAT, NC_DOUBLE].contains(type) else { throw bad("\(name) is not a float or double variable") }
                return id
            }
            atoms = atom.length
            frames = frame.length
            coordinates = try variable("coordinates", [frame.id, atom.id, spatial.id])!
            velocities = try variable("velocities", [frame.id, atom.id, spatial.id], optional: true)
            time = try variable("time", [frame.id])!
            cellLengths = try variable("cell_lengths", [frame.id, cellSpatial.id])!
            cellAngles = try variable("cell_angles", [frame.id, cellAngular.id])!
        }
    }

    /// A text attribute of variable `varid` (NC_GLOBAL: the file's), nil if absent or not text.
    static func attribute(_ ncid: Int32, _ varid: Int32, _ name: String) -> String? {
        var type: nc_type = 0, n = 0
        guard nc_inq_att(ncid, varid, name, &type, &n) == NC_NOERR, type == NC_CHAR else { return nil }
        var chars = [CChar](repeating: 0, count: n + 1)
        guard nc_get_att_text(ncid, varid, name, &chars) == NC_NOERR else { return nil }
        return String(decoding: chars.prefix(n).prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

/// Writes an AMBER NetCDF trajectory (`AmberNetCDF`), one frame at a time. The file is the
/// NetCDF-3 64-bit offset format; frames are made durable by `sync` (a run calls it before each
/// checkpoint) and by `close`.
public final class AmberNetCDFWriter {
    /// The file written.
    public let path: String
    /// Atoms per frame.
    public let atoms: Int
    /// Frames in the file.
    public private(set) var frameCount: Int
    private var ncid: Int32
    private var isOpen = true
    private let layout: AmberNetCDF.Layout

    /// Creates `path` with no frames, replacing a file already there (the caller has checked that
    /// it may: `OutputPlace`, `RunDirectory`). `elements` are the symbols of the species and
    /// `species[i]` the species of atom i (stored as `atom_types` and `atom_elements`); `title`
    /// and `programVersion` become those attributes. A failure removes what was created.
    public init(creating path: String, elements: [String], species: [Int], title: String = "mld run",
                programVersion: String = AmberNetCDF.programVersion) throws {
        AmberNetCDF.library.lock(); defer { AmberNetCDF.library.unlock() }
        self.path = path
        atoms = species.count
        frameCount = 0
        guard atoms > 0, species.allSatisfy({ elements.indices.contains($0) }) else {
            throw MLDError.output(file: path, problem: "cannot hold a trajectory of \(atoms) atoms with species outside the \(elements.count) elements")
        }
        var id: Int32 = -1
        try AmberNetCDF.written(nc_create(path, NC_CLOBBER | NC_64BIT_OFFSET, &id), path, "creating it")
        ncid = id
        do {
            layout = try Self.define(id, path: path, atoms: atoms, elements: elements, species: species,
                                     title: title, programVersion: programVersion)
        } catch {
            // Still in define mode (or just out of it): abort and remove the new file.
            nc_abort(id)
            isOpen = false
            try? FileManager.default.removeItem(atPath: path)
            throw error
        }
    }

    /// Defines the dimensions, variables and attributes, leaves define mode and writes the
    /// fixed variables (labels and atom types).
    private static func define(_ id: Int32, path: String, atoms: Int, elements: [String], species: [Int],
                               title: String, programVersion: String) throws -> AmberNetCDF.Layout {
        func ok(_ s: Int32, _ what: @autoclosure () -> String) throws { try AmberNetCDF.written(s, path, what()) }
        func text(_ varid: Int32, _ name: String, _ value: String) throws {
            let b = Array(value.utf8)
            try ok(nc_put_att_text(id, varid, name, b.count, b.map { CChar(bitPattern: $0) }), "writing the attribute \(name)")
        }
        var old: Int32 = 0
        // Every variable of every frame is written, so the library need not fill them first.
        try ok(nc_set_fill(id, NC_NOFILL, &old), "setting no-fill mode")
        try text(NC_GLOBAL, "Conventions", AmberNetCDF.conventions)
        try text(NC_GLOBAL, "ConventionVersion", AmberNetCDF.conventionVersion)
        try text(NC_GLOBAL, "program", AmberNetCDF.program)
        try text(NC_GLOBAL, "programVersion", programVersion)
        try text(NC_GLOBAL, "title", title)
        let symbolLength = max(1, elements.map { $0.utf8.count }.max() ?? 1)
        var frame: Int32 = 0, spatial: Int32 = 0, atom: Int32 = 0, cellSpatial: Int32 = 0, cellAngular: Int32 = 0
        var label: Int32 = 0, symbol: Int32 = 0
        try ok(nc_def_dim(id, "frame", Int(NC_UNLIMITED), &frame), "defining the frame dimension")
        try ok(nc_def_dim(id, "spatial", 3, &spatial), "defining the spatial dimension")
        try ok(nc_def_dim(id, "atom", atoms, &atom), "defining the atom dimension (\(atoms) atoms)")
        try ok(nc_def_dim(id, "cell_spatial", 3, &cellSpatial), "defining the cell_spatial dimension")
        try ok(nc_def_dim(id, "cell_angular", 3, &cellAngular), "defining the cell_angular dimension")
        try ok(nc_def_dim(id, "label", 5, &label), "defining the label dimension")
        try ok(nc_def_dim(id, "element_length", symbolLength, &symbol), "defining the element_length dimension")
        func variable(_ name: String, _ type: nc_type, _ dims: [Int32], units: String? = nil) throws -> Int32 {
            var v: Int32 = 0
            try ok(nc_def_var(id, name, type, Int32(dims.count), dims, &v), "defining the variable \(name)")
            if let units { try text(v, "units", units) }
            return v
        }
        // The record variables in the convention's order (each frame's record holds them so).
        _ = try variable("time", NC_FLOAT, [frame], units: "picosecond")
        let spatialLabels = try variable("spatial", NC_CHAR, [spatial])
        _ = try variable("coordinates", NC_FLOAT, [frame, atom, spatial], units: "angstrom")
        _ = try variable("velocities", NC_FLOAT, [frame, atom, spatial], units: "angstrom/picosecond")
        let cellSpatialLabels = try variable("cell_spatial", NC_CHAR, [cellSpatial])
        let cellAngularLabels = try variable("cell_angular", NC_CHAR, [cellAngular, label])
        _ = try variable("cell_lengths", NC_DOUBLE, [frame, cellSpatial], units: "angstrom")
        _ = try variable("cell_angles", NC_DOUBLE, [frame, cellAngular], units: "degree")
        let types = try variable("atom_types", NC_INT, [atom])
        let symbols = try variable("atom_elements", NC_CHAR, [atom, symbol])
        try text(types, "long_name", "atomic number")
        try text(symbols, "long_name", "element symbol")
        try ok(nc_enddef(id), "writing the header (\(atoms) atoms)")

        func chars(_ s: String, width: Int) -> [CChar] {
            let b = Array(s.utf8.prefix(width)).map { CChar(bitPattern: $0) }
            return b + [CChar](repeating: 0, count: width - b.count)
        }
        try ok(nc_put_var_text(id, spatialLabels, chars("xyz", width: 3)), "writing spatial")
        try ok(nc_put_var_text(id, cellSpatialLabels, chars("abc", width: 3)), "writing cell_spatial")
        try ok(nc_put_var_text(id, cellAngularLabels, ["alpha", "beta", "gamma"].flatMap { chars($0, width: 5) }), "writing cell_angular")
        let z = elements.map(AmberNetCDF.atomicNumber)
        try ok(nc_put_var_int(id, types, species.map { z[$0] }), "writing atom_types")
        let padded = elements.map { chars($0, width: symbolLength) }
        var all = [CChar]()
        all.reserveCapacity(atoms * symbolLength)
        for s in species { all += padded[s] }
        try ok(nc_put_var_text(id, symbols, all), "writing atom_elements")
        return try AmberNetCDF.Layout(ncid: id, path: path)
    }

    /// Opens the trajectory at `path` to append frames after those it holds.
    public init(appendingTo path: String) throws {
        AmberNetCDF.library.lock(); defer { AmberNetCDF.library.unlock() }
        self.path = path
        var id: Int32 = -1
        try AmberNetCDF.written(nc_open(path, NC_WRITE, &id), path, "opening it to append frames")
        ncid = id
        do {
            layout = try AmberNetCDF.Layout(ncid: id, path: path)
            var old: Int32 = 0
            try AmberNetCDF.written(nc_set_fill(id, NC_NOFILL, &old), path, "setting no-fill mode")
        } catch {
            nc_close(id)
            isOpen = false
            throw error
        }
        guard let _ = layout.velocities else {
            nc_close(id)
            isOpen = false
            throw MLDError.input(file: path, line: nil, problem: "has no velocities variable; mld appends only to the trajectories it writes")
        }
        atoms = layout.atoms
        frameCount = layout.frames
    }

    /// Appends `frame` as frame `frameCount` (positions in Å, velocities in Å/ps, time in ps,
    /// cell in Å and degrees: see `AmberNetCDF.Frame`).
    public func append(_ f: AmberNetCDF.Frame) throws {
        AmberNetCDF.library.lock(); defer { AmberNetCDF.library.unlock() }
        guard isOpen else { throw MLDError.output(file: path, problem: "is closed") }
        guard f.coordinates.count == 3 * atoms, let v = f.velocities, v.count == 3 * atoms else {
            throw MLDError.output(file: path, problem: "a frame needs positions and velocities of \(atoms) atoms")
        }
        let k = frameCount
        func ok(_ s: Int32, _ name: String) throws { try AmberNetCDF.written(s, path, "writing \(name) of frame \(k)") }
        let start3 = [k, 0, 0], count3 = [1, atoms, 3]
        try ok(nc_put_vara_float(ncid, layout.time, [k], [1], [f.time]), "time")
        try ok(nc_put_vara_float(ncid, layout.coordinates, start3, count3, f.coordinates), "coordinates")
        try ok(nc_put_vara_float(ncid, layout.velocities!, start3, count3, v), "velocities")
        let l = f.cellLengths, a = f.cellAngles
        try ok(nc_put_vara_double(ncid, layout.cellLengths, [k, 0], [1, 3], [l.x, l.y, l.z]), "cell_lengths")
        try ok(nc_put_vara_double(ncid, layout.cellAngles, [k, 0], [1, 3], [a.x, a.y, a.z]), "cell_angles")
        frameCount += 1
    }

    /// Writes everything buffered, the frame count in the header included, to the file.
    public func sync() throws {
        AmberNetCDF.library.lock(); defer { AmberNetCDF.library.unlock() }
        guard isOpen else { return }
        try AmberNetCDF.written(nc_sync(ncid), path, "flushing it")
    }

    /// Closes the file (writing what is buffered); further appends fail.
    public func close() throws {
        AmberNetCDF.library.lock(); defer { AmberNetCDF.library.unlock() }
        guard isOpen else { return }
        isOpen = false
        try AmberNetCDF.written(nc_close(ncid), path, "closing it")
    }

    deinit {
        AmberNetCDF.library.lock(); defer { AmberNetCDF.library.unlock() }
        if isOpen { nc_close(ncid) }
    }
}

/// Reads an AMBER NetCDF trajectory (`AmberNetCDF`; any writer's, in the NetCDF-3 formats or,
/// when the library has them, NetCDF-4): the header at once, frames on demand.
public final class AmberNetCDFReader {
    /// The file read.
    public let path: String
    /// Atoms per frame and frames in the file.
    public let atoms: Int
    public let frameCount: Int
    /// The file's global text attributes (Conventions, ConventionVersion, program, ...).
    public let attributes: [String: String]
    /// Each atom's element symbol (`atom_elements`, which mld writes), nil when absent.
    public let elements: [String]?
    /// Each atom's atomic number (`atom_types`), nil when absent.
    public let atomicNumbers: [Int32]?
    /// The file's format: `NC_FORMAT_64BIT_OFFSET` (2) for what mld writes.
    public let format: Int32
    /// The `units` attribute of each variable that has one (e.g. "velocities": "angstrom/picosecond").
    public let units: [String: String]
    private let ncid: Int32
    private let layout: AmberNetCDF.Layout

    /// Opens `path` and checks it against the convention; a file that is not NetCDF or not an
    /// AMBER trajectory is one `MLDError.input` line naming it.
    public init(_ path: String) throws {
        AmberNetCDF.library.lock(); defer { AmberNetCDF.library.unlock() }
        self.path = path
        var id: Int32 = -1
        try AmberNetCDF.read(nc_open(path, NC_NOWRITE, &id), path, "opening it")
        ncid = id
        do {
            layout = try AmberNetCDF.Layout(ncid: id, path: path)
        } catch {
            nc_close(id)
            throw error
        }
        atoms = layout.atoms
        frameCount = layout.frames
        var f: Int32 = 0
        nc_inq_format(id, &f)
        format = f
        var n: Int32 = 0
        nc_inq_natts(id, &n)
        var attrs: [String: String] = [:]
        var name = [CChar](repeating: 0, count: Int(NC_MAX_NAME) + 1)
        for k in 0..<n where nc_inq_attname(id, NC_GLOBAL, k, &name) == NC_NOERR {
            let s = String(cString: name)
            if let v = AmberNetCDF.attribute(id, NC_GLOBAL, s) { attrs[s] = v }
        }
        attributes = attrs
        var u: [String: String] = [:]
        var nvars: Int32 = 0
        nc_inq_nvars(id, &nvars)
        for v in 0..<nvars where nc_inq_varname(id, v, &name) == NC_NOERR {
            if let s = AmberNetCDF.attribute(id, v, "units") { u[String(cString: name)] = s }
        }
        units = u
        var varid: Int32 = 0
        let atomCount = layout.atoms
        if nc_inq_varid(id, "atom_types", &varid) == NC_NOERR {
            var z = [Int32](repeating: 0, count: atomCount)
            atomicNumbers = nc_get_var_int(id, varid, &z) == NC_NOERR ? z : nil
        } else { atomicNumbers = nil }
        var symbolDim: Int32 = 0, width = 0
        if nc_inq_varid(id, "atom_elements", &varid) == NC_NOERR, nc_inq_dimid(id, "element_length", &symbolDim) == NC_NOERR,
           nc_inq_dimlen(id, symbolDim, &width) == NC_NOERR, width > 0 {
            var chars = [CChar](repeating: 0, count: atomCount * width)
            if nc_get_var_text(id, varid, &chars) == NC_NOERR {
                elements = (0..<atomCount).map { i in
                    String(decoding: chars[(i * width)..<((i + 1) * width)].prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
                }
            } else { elements = nil }
        } else { elements = nil }
    }

    /// Frame `index` (0-based) as stored: positions in Å, velocities in Å/ps, time in ps, cell in
    /// Å and degrees.
    public func frame(_ index: Int) throws -> AmberNetCDF.Frame {
        AmberNetCDF.library.lock(); defer { AmberNetCDF.library.unlock() }
        guard (0..<frameCount).contains(index) else {
            throw MLDError.input(file: path, line: nil, problem: "has \(frameCount) frames, no frame \(index)")
        }
        func ok(_ s: Int32, _ name: String) throws { try AmberNetCDF.read(s, path, "reading \(name) of frame \(index)") }
        let start3 = [index, 0, 0], count3 = [1, atoms, 3]
        var t: Float = 0
        try ok(nc_get_vara_float(ncid, layout.time, [index], [1], &t), "time")
        var x = [Float](repeating: 0, count: 3 * atoms)
        try ok(nc_get_vara_float(ncid, layout.coordinates, start3, count3, &x), "coordinates")
        var v: [Float]?
        if let id = layout.velocities {
            var u = [Float](repeating: 0, count: 3 * atoms)
            try ok(nc_get_vara_float(ncid, id, start3, count3, &u), "velocities")
            v = u
        }
        var l = [Double](repeating: 0, count: 3), a = [Double](repeating: 0, count: 3)
        try ok(nc_get_vara_double(ncid, layout.cellLengths, [index, 0], [1, 3], &l), "cell_lengths")
        try ok(nc_get_vara_double(ncid, layout.cellAngles, [index, 0], [1, 3], &a), "cell_angles")
        return AmberNetCDF.Frame(time: t, coordinates: x, velocities: v, cellLengths: SIMD3(l[0], l[1], l[2]),
                                 cellAngles: SIMD3(a[0], a[1], a[2]))
    }

    /// Every frame, in order.
    public func frames() throws -> [AmberNetCDF.Frame] { try (0..<frameCount).map(frame) }

    /// The SHA-256 digest (`AmberNetCDF.Frame.digest`) of the first `count` frames, as a hasher
    /// that can go on taking frames; each frame read is also handed to `each` (to copy it).
    public func digest(frames count: Int, each: (AmberNetCDF.Frame) throws -> Void = { _ in }) throws -> SHA256.Hasher {
        var h = SHA256.Hasher()
        for k in 0..<count {
            let f = try frame(k)
            f.digest(into: &h)
            try each(f)
        }
        return h
    }

    deinit {
        AmberNetCDF.library.lock(); defer { AmberNetCDF.library.unlock() }
        nc_close(ncid)
    }
}
